"""The Dagster and MLflow views of a clustering step, linked both ways, on the session's real run.

Metadata links to the MLflow run; every run carries the Dagster run id, asset key and code
version, is named after its asset, spans the whole step, sits in a model-development experiment
with a description, and holds its per-cluster silhouettes as one table and its assignment model
as a logged pyfunc model.
"""

import json
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
from dagster import DagsterInstance, UrlMetadataValue

from interest_pipeline.defs.clustering.assets import interest_topics
from interest_pipeline.defs.resources import (
    EXPERIMENT_KIND_TAG,
    MODEL_DEVELOPMENT,
    NOTE_TAG,
    MlflowTracking,
    run_id_of_url,
)
from interest_pipeline.defs.tracking import package_code_version
from interest_pipeline.defs.warehouse import read_frame

CLUSTERING = {
    "interest_topics": "interest_topics",
    "interest_hierarchy": "interest_topics",
    "user_segments": "user_segments",
}
DEFAULT_UI = "http://127.0.0.1:5000"


def _client(pipeline_run):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=pipeline_run.tracking_uri)


def _only_run(client, experiment: str):
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1, experiment
    return runs[0]


def _metadata(result) -> dict:
    return {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}


def _query(pipeline_run, sql):
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        return read_frame(conn, sql)


def test_metadata_links_each_clustering_asset_to_its_mlflow_run(pipeline_run):
    client, metadata = _client(pipeline_run), _metadata(pipeline_run.model_result)
    for asset, experiment in CLUSTERING.items():
        run = _only_run(client, experiment)
        link = metadata[asset]["mlflow_run_id"]
        assert isinstance(link, UrlMetadataValue), asset
        assert (
            link.url
            == f"{DEFAULT_UI}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}?workflowType=machine_learning"
        ), asset
    topics_link = metadata["interest_topics"]["mlflow_run_id"].url
    assert metadata["incremental_topic_assignments"]["taxonomy_mlflow_run"].url == topics_link


def test_the_mlflow_ui_address_is_configurable():
    assert (
        MlflowTracking(ui_url="https://mlflow.example.org/").run_url("3", "abc")
        == "https://mlflow.example.org/#/experiments/3/runs/abc?workflowType=machine_learning"
    )
    assert run_id_of_url(MlflowTracking().run_url("3", "abc")) == "abc"


def test_the_mlflow_ui_address_comes_from_the_environment(monkeypatch):
    from dagster import EnvVar

    from interest_pipeline.definitions import build_resources

    assert build_resources()["mlflow"].ui_url == DEFAULT_UI
    monkeypatch.setenv("INTEREST_PIPELINE_MLFLOW_UI_URL", "https://mlflow.example.org")
    assert build_resources()["mlflow"].ui_url == EnvVar("INTEREST_PIPELINE_MLFLOW_UI_URL")


def test_every_mlflow_run_names_its_dagster_step(pipeline_run):
    client = _client(pipeline_run)
    for experiment in ("interest_topics", "user_segments"):
        run = _only_run(client, experiment)
        tags = run.data.tags
        assert tags["dagster.run_id"] == pipeline_run.model_result.run_id
        assert tags["dagster.asset_key"] == experiment
        assert tags["dagster.job"] == "interest_model_job"
        assert tags["dagster.code_version"] == package_code_version() and tags["dagster.code_version"].startswith("0.")
        assert "dagster.partition_range" not in tags  # the model job is not partitioned
        assert re.fullmatch(rf"{experiment}-\d{{8}}T\d{{6}}Z", run.info.run_name), run.info.run_name


def test_partition_range_tag_of_a_partitioned_step():
    from dagster import AssetExecutionContext, DailyPartitionsDefinition, MaterializeResult, asset, materialize

    from interest_pipeline.defs.tracking import dagster_run_tags

    @asset(partitions_def=DailyPartitionsDefinition(start_date="2026-10-01"))
    def probe(context: AssetExecutionContext) -> MaterializeResult:
        return MaterializeResult(metadata=dagster_run_tags(context, "probe"))

    with DagsterInstance.ephemeral() as instance:
        ranged = materialize(
            [probe],
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "2026-10-02",
                "dagster/asset_partition_range_end": "2026-10-05",
            },
        )
        single = materialize([probe], instance=instance, partition_key="2026-10-03")
    assert (
        ranged.asset_materializations_for_node("probe")[0].metadata["dagster.partition_range"].value
        == "2026-10-02...2026-10-05"
    )
    assert single.asset_materializations_for_node("probe")[0].metadata["dagster.partition_range"].value == "2026-10-03"


def test_the_mlflow_run_spans_every_phase_of_the_step(pipeline_run):
    client, metadata = _client(pipeline_run), _metadata(pipeline_run.model_result)
    expected = {
        "interest_topics": {
            "mlflow run",
            "read",
            "distinct texts",
            "reduction",
            "hdbscan",
            "grouping",
            "identities",
            "keywords",
            "quality and pictures",
            "assignments and stability",
            "mlflow logging",
            "store",
            "checks",
        },
        "user_segments": {
            "mlflow run",
            "read",
            "reduction",
            "hdbscan",
            "grouping",
            "identities",
            "quality and pictures",
            "mlflow logging",
            "store",
        },
    }
    for experiment, phases in expected.items():
        run = _only_run(client, experiment)
        assert phases <= set(metadata[experiment]["phase_seconds"].value), experiment
        phase_metrics = {k: v for k, v in run.data.metrics.items() if k.startswith("phase_seconds/")}
        assert {f"phase_seconds/{p}" for p in phases} <= set(phase_metrics), experiment
        # Opened before the first phase and closed after the last: the run's duration covers them all
        # but its own opening (the store's connection, the experiment, the run).
        duration = (run.info.end_time - run.info.start_time) / 1000
        within_run = sum(phase_metrics.values()) - phase_metrics["phase_seconds/mlflow run"]
        assert duration + 0.01 >= within_run, (experiment, duration, phase_metrics)


def test_the_phases_of_interest_topics_account_for_its_step(pipeline_run):
    # Dagster's own measure of the step, beside the phases the step logged
    step_seconds = next(
        event.event_specific_data.duration_ms / 1000
        for event in pipeline_run.model_result.all_events
        if event.step_key == "interest_topics" and event.is_step_success
    )
    phases = _metadata(pipeline_run.model_result)["interest_topics"]["phase_seconds"].value
    unaccounted = step_seconds - sum(phases.values())
    assert 0 <= unaccounted <= max(1.0, 0.05 * step_seconds), (step_seconds, phases)
    # The step reads the stored embeddings: it has no embedding model to load.
    assert "embedder" not in interest_topics.required_resource_keys


def test_experiments_are_for_model_development_and_described(pipeline_run):
    client = _client(pipeline_run)
    for experiment in ("interest_topics", "user_segments"):
        tags = client.get_experiment_by_name(experiment).tags
        assert tags[EXPERIMENT_KIND_TAG] == MODEL_DEVELOPMENT
        assert f"Dagster asset {experiment}" in tags[NOTE_TAG]


def _per_cluster_table(client, run, tmp_path):
    folder = client.download_artifacts(run.info.run_id, "silhouette_per_cluster.json", str(tmp_path / run.info.run_id))
    with open(folder) as handle:
        stored = json.load(handle)
    return [dict(zip(stored["columns"], row)) for row in stored["data"]], stored["columns"]


@pytest.mark.parametrize("experiment", ["interest_topics", "user_segments"])
def test_per_cluster_silhouettes_are_one_mlflow_table(pipeline_run, tmp_path, experiment):
    client = _client(pipeline_run)
    run = _only_run(client, experiment)
    rows, columns = _per_cluster_table(client, run, tmp_path)
    assert columns == ["cluster", "label", "parent", "parent_label", "points", "silhouette"]
    assert len(rows) == run.data.metrics["n_fine_clusters"]
    assert not any(k.startswith("silhouette_cluster/") for k in run.data.metrics)
    assert {"path": "silhouette_per_cluster.json", "type": "table"} in json.loads(
        run.data.tags["mlflow.loggedArtifacts"]
    )
    values = [r["silhouette"] for r in rows if r["silhouette"] is not None]
    assert values == sorted(values, reverse=True) and len(values) >= 2
    assert all(-1 <= v <= 1 for v in values) and all(r["points"] > 0 for r in rows)
    if experiment == "interest_topics":
        nodes = _query(
            pipeline_run, "SELECT node_id, parent_id, label FROM interest_hierarchy WHERE level = 'subtopic'"
        )
        by_id = {n["node_id"]: n for n in nodes.iter_rows(named=True)}
        assert {r["cluster"] for r in rows} == set(by_id)
        assert all(
            r["label"] == by_id[r["cluster"]]["label"] and r["parent"] == by_id[r["cluster"]]["parent_id"] for r in rows
        )
        topics = dict(
            _query(pipeline_run, "SELECT node_id, label FROM interest_hierarchy WHERE level = 'topic'").iter_rows()
        )
        assert all(r["parent_label"] == topics[r["parent"]] for r in rows)
    else:
        segments = _query(
            pipeline_run,
            "SELECT DISTINCT segment_fine, segment_coarse FROM user_segments WHERE segment_fine IS NOT NULL",
        )
        assert {r["cluster"]: r["parent"] for r in rows} == dict(segments.iter_rows())


def test_the_assignment_model_is_a_logged_pyfunc_model(pipeline_run, tmp_path):
    import mlflow.artifacts
    import mlflow.pyfunc

    from interest_pipeline.core.common.vectors import series_to_vectors

    client = _client(pipeline_run)
    run = client.get_run(_only_run(client, "interest_topics").info.run_id)
    (output,) = run.outputs.model_outputs
    model = client.get_logged_model(output.model_id)
    assert (model.name, model.source_run_id, str(model.status)) == ("assignment_model", run.info.run_id, "READY")
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=model.artifact_location, dst_path=str(tmp_path), tracking_uri=pipeline_run.tracking_uri
    )
    loaded = mlflow.pyfunc.load_model(local)
    nodes = _query(
        pipeline_run,
        "SELECT node_id, parent_id, centroid FROM interest_hierarchy WHERE level = 'subtopic' ORDER BY node_id",
    )
    centroids = series_to_vectors(nodes["centroid"], 0)
    predicted = loaded.predict(centroids, params={"min_similarity": 0.5})
    assert predicted["subtopic_id"].tolist() == nodes["node_id"].to_list()
    assert predicted["topic_id"].tolist() == nodes["parent_id"].to_list()
    np.testing.assert_allclose(predicted["similarity"].to_numpy(), 1.0, atol=1e-4)
    far = loaded.predict(-centroids[:3], params={"min_similarity": 0.99})
    assert far["subtopic_id"].isna().all()  # below the threshold a text stays noise


def test_the_topic_tree_picture_draws_every_stored_subtopic(pipeline_run, tmp_path):
    from interest_pipeline.core.clustering.plots import topic_tree_rows

    client = _client(pipeline_run)
    run = _only_run(client, "interest_topics")
    with open(client.download_artifacts(run.info.run_id, "hierarchy.json", str(tmp_path))) as handle:
        tree = json.load(handle)
    drawn = {name.split()[0] for name, _, _, is_topic in topic_tree_rows(tree) if not is_topic}
    stored = set(_query(pipeline_run, "SELECT node_id FROM interest_hierarchy WHERE level = 'subtopic'")["node_id"])
    assert drawn == stored
    per_topic = _query(
        pipeline_run,
        "SELECT parent_id, count(*) AS n FROM interest_hierarchy WHERE level = 'subtopic' GROUP BY parent_id",
    )
    assert per_topic["n"].max() > 0


def test_previews_show_labels_and_rounded_silhouettes(pipeline_run):
    preview = _metadata(pipeline_run.model_result)["interest_topics"]["per_cluster"].value
    first_row = preview.splitlines()[2].strip("| ").split(" | ")
    cluster, label, parent, points, silhouette = first_row
    assert re.fullmatch(r"t\d\d\.s\d{3}", cluster) and label and re.fullmatch(r"t\d\d", parent)
    assert len(silhouette.split(".")[-1]) <= 3


def test_a_copied_project_writes_only_into_itself_and_keeps_its_runs_readable(tmp_path):
    import warnings

    def tracking(project: Path) -> MlflowTracking:
        return MlflowTracking(
            tracking_uri=f"sqlite:///{project / 'mlflow.db'}", artifact_root=str(project / "mlflow-artifacts")
        )

    def files(folder: Path) -> set[str]:
        return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}

    original, copy = tmp_path / "original", tmp_path / "copy"
    original.mkdir()
    with tracking(original).start_run("interest_topics", "first") as run:
        run.log_bytes(b"first", "first.txt")
    first_run = run.run_id
    shutil.copytree(original, copy)  # cp -a of a built project
    before = files(original)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with tracking(copy).start_run("interest_topics", "second") as run:
            run.log_bytes(b"second", "second.txt")
    assert files(original) == before  # nothing written into the original
    assert any("second.txt" in f for f in files(copy / "mlflow-artifacts"))
    assert any("now point there" in str(w.message) for w in caught)
    # the copy's old runs read their artifacts from the copy
    shutil.rmtree(original)
    assert tracking(copy).load_artifact(first_run, "first.txt") == b"first"
    # once pointed at itself, the copy is left as it is
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no relocation message: nothing moved
        with tracking(copy).start_run("interest_topics", "third") as run:
            run.log_bytes(b"third", "third.txt")
