"""MLflow as a tracking server (deploy/README.md, step 4), run for real.

The clustering steps log to a local ``mlflow server`` (SQLite backend, artifacts proxied to a
folder of its own) over HTTP: runs, metrics, pictures, tables and the logged assignment model
arrive there. With no server listening, a step fails within seconds, naming the tracking URI.
"""

import json
import shutil
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest
from dagster import AssetKey

from interest_pipeline.defs.resources import MlflowTracking, TrackingStoreError
from interest_pipeline_tests.conftest import make_resources
from interest_pipeline_tests.deploy.mlflow_server import running_mlflow_server, stop
from interest_pipeline_tests.deploy.ports import closed_port

CLUSTERING_ASSETS = ["interest_topics", "interest_hierarchy", "user_segments"]
# a step whose tracking server is down ends within this (MLflow's own retries take about 4 minutes)
FAILS_WITHIN_SECONDS = 45


def materialize_clustering(pipeline_run, root, tracking: MlflowTracking, assets=CLUSTERING_ASSETS):
    """The clustering steps on a copy of the session's warehouse, tracked by ``tracking``."""
    from interest_pipeline.definitions import build_definitions

    shutil.copy(pipeline_run.warehouse, root / "warehouse.duckdb")
    resources = {**make_resources(root, pipeline_run.sample_dir), "mlflow": tracking}
    job = build_definitions(resources).resolve_implicit_global_asset_job_def()
    return job.execute_in_process(asset_selection=[AssetKey(a) for a in assets], raise_on_error=False)


@pytest.fixture(scope="module")
def tracked_on_server(mlflow_server, pipeline_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("tracked_on_server")
    tracking = MlflowTracking(tracking_uri=mlflow_server.url, artifact_root=str(root / "local-artifacts"))
    result = materialize_clustering(pipeline_run, root, tracking)
    assert result.success, mlflow_server.log()[-3000:]
    return root, result


def only_run(client, experiment: str):
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return run


def test_runs_metrics_and_artifacts_arrive_on_the_server(tracked_on_server, mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    root, result = tracked_on_server
    client = MlflowClient(tracking_uri=mlflow_server.url)
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        stored_run_ids = {
            table: conn.execute(f"SELECT DISTINCT mlflow_run_id FROM {table}").fetchall()
            for table in ("interest_topics", "interest_hierarchy", "user_segments")
        }
    for experiment, pictures in {
        "interest_topics": {"cluster_map.png", "silhouette_per_cluster.png", "topic_tree.png"},
        "user_segments": {"silhouette_per_cluster.png"},
    }.items():
        run = only_run(client, experiment)
        assert run.info.status == "FINISHED" and run.data.tags["dagster.run_id"] == result.run_id
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")  # proxied by the server
        assert run.data.metrics["n_fine_clusters"] >= 2 and "silhouette" in run.data.metrics
        assert run.data.params
        artifacts = {a.path: a.file_size for a in client.list_artifacts(run.info.run_id)}
        assert pictures | {"silhouette_per_cluster.json"} <= set(artifacts), sorted(artifacts)
        assert all(artifacts[p] > 1000 for p in pictures)
        table = client.download_artifacts(run.info.run_id, "silhouette_per_cluster.json", str(tmp_path))
        assert len(json.loads(Path(table).read_text())["data"]) == run.data.metrics["n_fine_clusters"]
        # the bytes went through the server into its own artifact folder, none into the local one
        on_server = {p.name for p in (mlflow_server.folder / "artifacts").rglob("*") if p.is_file()}
        assert pictures <= on_server
        assert stored_run_ids[experiment] == [(run.info.run_id,)]
    assert stored_run_ids["interest_hierarchy"] == stored_run_ids["interest_topics"]
    assert not (root / "local-artifacts").exists()


def test_the_logged_assignment_model_loads_from_the_server(tracked_on_server, mlflow_server, tmp_path):
    import mlflow.artifacts
    import mlflow.pyfunc
    from mlflow.tracking import MlflowClient

    from interest_pipeline.core.common.vectors import series_to_vectors
    from interest_pipeline.defs.warehouse import read_frame

    root, _ = tracked_on_server
    client = MlflowClient(tracking_uri=mlflow_server.url)
    run = client.get_run(only_run(client, "interest_topics").info.run_id)
    (output,) = run.outputs.model_outputs
    model = client.get_logged_model(output.model_id)
    assert (model.name, model.source_run_id, str(model.status)) == ("assignment_model", run.info.run_id, "READY")
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=model.artifact_location, dst_path=str(tmp_path), tracking_uri=mlflow_server.url
    )
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        nodes = read_frame(
            conn, "SELECT node_id, centroid FROM interest_hierarchy WHERE level = 'subtopic' ORDER BY node_id"
        )
    predicted = mlflow.pyfunc.load_model(local).predict(
        series_to_vectors(nodes["centroid"], 0), params={"min_similarity": 0.5}
    )
    assert predicted["subtopic_id"].tolist() == nodes["node_id"].to_list()
    np.testing.assert_allclose(predicted["similarity"].to_numpy(), 1.0, atol=1e-4)


def test_a_step_fails_within_seconds_naming_the_server_when_it_is_down(pipeline_run, tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    result = materialize_clustering(pipeline_run, tmp_path, MlflowTracking(tracking_uri=url), ["user_segments"])
    elapsed = time.monotonic() - started
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.to_string()
    assert not result.success and elapsed < FAILS_WITHIN_SECONDS, elapsed
    assert f"the MLflow tracking store {url} did not open a run" in message, message
    assert "TrackingStoreError" in message
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        # the step stopped before writing: the copied table still names the session's own run
        before = {r for (r,) in conn.execute("SELECT DISTINCT mlflow_run_id FROM user_segments").fetchall()}
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        assert before == {r for (r,) in conn.execute("SELECT DISTINCT mlflow_run_id FROM user_segments").fetchall()}


def test_a_server_lost_while_logging_fails_the_block_and_says_which_run_stays_running(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    # the bounds themselves are held by the test above; one retry keeps this one short
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    with running_mlflow_server(tmp_path / "server") as server:
        tracking = MlflowTracking(tracking_uri=server.url)
        with pytest.raises(Exception) as raised, tracking.start_run("interest_topics", "lost") as run:
            run.log_metrics({"before": 1.0})
            stop(server.process)
            started = time.monotonic()
            run.log_metrics({"after": 2.0})
    elapsed = time.monotonic() - started
    assert elapsed < FAILS_WITHIN_SECONDS, elapsed
    assert server.url in str(raised.value)
    assert not isinstance(raised.value, TrackingStoreError)  # the step's own error, not the clean-up's
    note = f"MLflow run {run.run_id} at {server.url} could not be marked FAILED"
    assert any(n.startswith(note) for n in getattr(raised.value, "__notes__", [])), raised.value
    # the server's own store holds the run as it was left: RUNNING, with what was logged before
    left = MlflowClient(tracking_uri=f"sqlite:///{server.folder / 'mlflow.db'}").get_run(run.run_id)
    assert left.info.status == "RUNNING" and left.data.metrics == {"before": 1.0}
