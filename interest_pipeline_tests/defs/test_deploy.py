"""The deployment files validate against Dagster's schemas, and the multiprocess executor runs the job.

The Kubernetes files cannot run here (no cluster): they are checked against the config schemas
of dagster-k8s and dagster-postgres, which is what Dagster itself checks when an instance or a run
starts. The PostgreSQL instance file is also run for real, in interest_pipeline_tests/deploy/.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import DagsterInstance, validate_run_config
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config

from interest_pipeline.definitions import build_definitions, build_executor
from interest_pipeline_tests.conftest import make_resources

DEPLOY = Path(__file__).resolve().parents[2] / "interest_pipeline" / "deploy"
INSTANCE_FILES = ["local/dagster.yaml", "local/postgres.yaml", "kubernetes/dagster.yaml"]


@pytest.mark.parametrize("name", INSTANCE_FILES)
def test_instance_files_validate(name, tmp_path):
    shutil.copy(DEPLOY / name, tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))  # raises on a schema error
    assert config["concurrency"]["pools"]["default_limit"] == 1  # the DuckDB single-writer guard
    if "postgres" in config.get("storage", {}):
        from dagster_postgres import DagsterPostgresStorage

        assert validate_config(DagsterPostgresStorage.config_type(), config["storage"]["postgres"]).success
    if "run_launcher" in config:
        from dagster_k8s import K8sRunLauncher

        result = validate_config(K8sRunLauncher.config_type(), config["run_launcher"]["config"])
        assert result.success, result.errors


def test_run_config_files_validate_for_their_executor():
    resources = make_resources(Path("/nonexistent"), Path("/nonexistent"))
    local = build_definitions(resources).resolve_job_def("interest_model_job")
    assert validate_run_config(local, yaml.safe_load((DEPLOY / "local/multiprocess.yaml").read_text()))
    on_k8s = build_definitions(resources, executor=build_executor("k8s")).resolve_job_def("interest_model_job")
    k8s_config = yaml.safe_load((DEPLOY / "kubernetes/run_config.yaml").read_text())
    assert validate_run_config(on_k8s, k8s_config)
    steps = {node.name for node in on_k8s.graph.nodes}
    assert set(k8s_config["execution"]["config"]["per_step_k8s_config"]) <= steps  # no typo in a step name


def test_runs_take_one_process_unless_their_run_config_asks_for_one_per_step():
    job = build_definitions(make_resources(Path("/nonexistent"), Path("/nonexistent"))).resolve_job_def(
        "daily_update_job"
    )
    (default,) = validate_run_config(job, {})["execution"].values()
    (per_step,) = validate_run_config(job, yaml.safe_load((DEPLOY / "local/multiprocess.yaml").read_text()))[
        "execution"
    ].values()
    assert (
        list(default) == ["in_process"]
        and list(per_step) == ["multiprocess"]
        and per_step["multiprocess"]["max_concurrent"] == 2
    )
    assert build_executor("multiprocess").name == "multi_or_in_process_executor"


def test_unknown_executor_is_refused():
    with pytest.raises(ValueError, match="expected in_process, multiprocess or k8s"):
        build_executor("celery")


def test_multiprocess_executor_runs_steps_in_separate_processes(pipeline_run, tmp_path):
    shutil.copy(pipeline_run.warehouse, tmp_path / "warehouse.duckdb")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "local/dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "INTEREST_PIPELINE_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "INTEREST_PIPELINE_EVENTS_DIR": str(pipeline_run.sample_dir / "events"),
        "INTEREST_PIPELINE_ITEMS_PATH": str(pipeline_run.sample_dir / "items.csv"),
        "MLFLOW_TRACKING_URI": pipeline_run.tracking_uri,
        "INTEREST_PIPELINE_DEVICE": "cpu",
    }
    steps = "tokenized_comments,comment_embeddings,user_text_features"
    command = [
        sys.executable,
        "-m",
        "dagster",
        "job",
        "execute",
        "-m",
        "interest_pipeline.definitions",
        "-j",
        "interest_model_job",
        "-o",
        steps,
        "-c",
        str(DEPLOY / "local/multiprocess.yaml"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    with DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        records = instance.all_logs(run.run_id)
    starts = {
        r.step_key: r.dagster_event.pid
        for r in records
        if r.dagster_event is not None and r.dagster_event.event_type_value == "STEP_START"
    }
    assert set(steps.split(",")) <= set(starts)
    assert len(set(starts.values())) == len(starts)  # one process per step
    with (
        duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn,
        duckdb.connect(str(pipeline_run.warehouse), read_only=True) as before,
    ):
        for table in ("tokenized_comments", "comment_embeddings", "user_text_features"):
            query = f"SELECT count(*), sum(hash(t::VARCHAR)) FROM {table} t"  # the whole rows, compared exactly
            assert conn.execute(query).fetchone() == before.execute(query).fetchone(), table
