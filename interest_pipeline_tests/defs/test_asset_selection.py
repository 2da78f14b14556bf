"""Selecting one output of the taxonomy step, as `dagster asset materialize --select interest_topics`
does, rebuilds both tables from one clustering and records both materializations."""

import shutil

import duckdb
from dagster import AssetKey, AssetSelection, DagsterInstance

from interest_pipeline.definitions import build_definitions
from interest_pipeline_tests.helpers import make_resources


def _materialize_selection(definitions, select: str, instance):
    """What the command line does with ``--select``: resolve, take the implicit job, subset it, run."""
    repository = definitions.get_repository_def()
    keys = AssetSelection.from_coercible(select.split(",")).resolve(repository.asset_graph)
    job = repository.get_implicit_job_def_for_assets(keys).get_subset(asset_selection=keys)
    return job.execute_in_process(instance=instance)


def test_selecting_interest_topics_alone_rebuilds_the_taxonomy(pipeline_run, tmp_path):
    from mlflow.tracking import MlflowClient

    shutil.copy(pipeline_run.warehouse, tmp_path / "warehouse.duckdb")  # a fresh MLflow store beside it
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        before = conn.execute("SELECT any_value(mlflow_run_id) FROM interest_hierarchy").fetchone()[0]
    with DagsterInstance.ephemeral() as instance:
        result = _materialize_selection(
            build_definitions(make_resources(tmp_path, pipeline_run.sample_dir)), "interest_topics", instance
        )
        assert result.success
        recorded = {e.asset_key for e in result.get_asset_materialization_events()}
        hierarchy_record = instance.get_latest_materialization_event(AssetKey("interest_hierarchy"))
    assert recorded == {AssetKey("interest_topics"), AssetKey("interest_hierarchy")}
    assert "interest_topics" in hierarchy_record.asset_materialization.description

    (run,) = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}").search_runs(["1"])
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        run_ids = conn.execute(
            "SELECT DISTINCT mlflow_run_id FROM interest_topics UNION SELECT DISTINCT mlflow_run_id FROM interest_hierarchy"
        ).fetchall()
        unknown = conn.execute(
            "SELECT count(*) FROM interest_topics t ANTI JOIN interest_hierarchy h ON h.node_id = t.subtopic_id WHERE t.subtopic_id IS NOT NULL"
        ).fetchone()[0]
    assert run_ids == [(run.info.run_id,)] and run.info.run_id != before
    assert unknown == 0  # every assignment names a node of the rewritten hierarchy
    assert run.data.tags["dagster.run_id"] == result.run_id


def test_selecting_interest_hierarchy_alone_still_evaluates_the_checks_of_interest_topics(pipeline_run, tmp_path):
    from dagster import AssetCheckKey

    shutil.copy(pipeline_run.warehouse, tmp_path / "warehouse.duckdb")
    with DagsterInstance.ephemeral() as instance:
        result = _materialize_selection(
            build_definitions(make_resources(tmp_path, pipeline_run.sample_dir)), "interest_hierarchy", instance
        )
        assert result.success
        wanted = [
            AssetCheckKey(AssetKey("interest_topics"), "quality_within_bounds"),
            AssetCheckKey(AssetKey("interest_topics"), "schema_and_non_null"),
        ]
        executions = instance.event_log_storage.get_latest_asset_check_execution_by_key(wanted)
    # the table was rewritten by this run: its checks ran in it, not "not evaluated"
    assert set(executions) == set(wanted)
    assert all(e.run_id == result.run_id for e in executions.values())
    assert executions[wanted[1]].status.value == "SUCCEEDED"
