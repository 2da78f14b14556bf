"""The main command's runs carry the code location's origin, so the web UI places them (Overview
timeline, the job's page, re-execution) like the runs it launches itself."""

import shutil

import duckdb
from dagster import DagsterInstance
from dagster._core.workspace.load import location_origins_from_yaml_paths

from interest_pipeline.definitions import defs
from interest_pipeline.defs.recorded_runs import execute_recorded
from interest_pipeline_tests.helpers import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG, SMALL_SPEC

WORKSPACE = "workspace.yaml"


def test_a_recorded_run_has_the_workspace_origin_and_stores_its_rows(small_sample, tmp_path, monkeypatch):
    workspace_origin = location_origins_from_yaml_paths([WORKSPACE])[0]
    day = SMALL_SPEC.start_date.isoformat()
    # The embedded defaults are paths relative to the working folder: give them one day of the sample.
    events = tmp_path / "data" / "sample" / "events"
    events.mkdir(parents=True)
    for file in small_sample.joinpath("events").glob(f"*{day}*"):
        shutil.copy(file, events / file.name)
    shutil.copy(small_sample / "items.csv", tmp_path / "data" / "sample" / "items.csv")
    monkeypatch.chdir(tmp_path)

    with DagsterInstance.ephemeral() as instance:
        ok = execute_recorded(
            defs.resolve_job_def("ingest_job"),
            instance,
            tags={PARTITION_RANGE_START_TAG: day, PARTITION_RANGE_END_TAG: day},
        )
        [run] = instance.get_runs()
    assert ok
    assert run.job_name == "ingest_job"
    assert run.remote_job_origin is not None
    assert run.remote_job_origin.location_name == workspace_origin.location_name == "interest_pipeline"
    assert run.remote_job_origin.repository_origin.repository_name == "__repository__"
    assert run.tags[PARTITION_RANGE_START_TAG] == day
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.execute("select count(*) from raw_behavior_logs").fetchone()[0] > 0
