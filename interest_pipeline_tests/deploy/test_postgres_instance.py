"""Dagster's instance storage in PostgreSQL (deploy/local/postgres.yaml), run for real.

A local PostgreSQL server holds the runs, event logs, asset check results and the warehouse pool
of the ingest job and the model job run on the small sample; the DuckDB warehouse they build is
the same, table by table, as the one the same jobs build on the default SQLite instance.
"""

import contextlib
import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from interest_pipeline.definitions import build_definitions
from interest_pipeline.defs.instance_setup import RUN_HOST_TAG, release_slots_of_dead_runs, this_host
from interest_pipeline_tests.conftest import SMALL_SPEC, make_resources, run_pipeline
from interest_pipeline_tests.defs.slot_holder import slot_holder
from interest_pipeline_tests.table_diff import table_fingerprints

DEPLOY = Path(__file__).resolve().parents[2] / "interest_pipeline" / "deploy"


@pytest.fixture(scope="module")
def postgres_home(postgres_server, tmp_path_factory):
    """DAGSTER_HOME with deploy/local/postgres.yaml, its connection in the environment."""
    home = tmp_path_factory.mktemp("postgres_dagster_home")
    shutil.copy(DEPLOY / "local/postgres.yaml", home / "dagster.yaml")
    with pytest.MonkeyPatch.context() as env:
        for name, value in {**postgres_server.dagster_environment(), "DAGSTER_HOME": str(home)}.items():
            env.setenv(name, value)
        yield home


@pytest.fixture(scope="module")
def postgres_run(postgres_home, small_sample, tmp_path_factory):
    root = tmp_path_factory.mktemp("postgres_run")
    last = SMALL_SPEC.start_date + dt.timedelta(days=SMALL_SPEC.n_days - 1)
    with DagsterInstance.get() as instance:
        ingest, model = run_pipeline(
            build_definitions(make_resources(root, small_sample)),
            instance,
            SMALL_SPEC.start_date.isoformat(),
            last.isoformat(),
        )
    assert ingest.success and model.success
    return root, ingest, model


def query(server, sql: str, params=()) -> list[tuple]:
    with server.connect() as connection, connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_the_instance_is_postgresql_and_keeps_no_sqlite_storage(postgres_run, postgres_home):
    with DagsterInstance.get() as instance:
        storages = {type(s).__name__ for s in (instance.run_storage, instance.event_log_storage)}
        assert storages == {"PostgresRunStorage", "PostgresEventLogStorage"}
        runs = instance.get_runs()
    _, ingest, model = postgres_run
    assert {(r.run_id, r.job_name, r.status.value) for r in runs} == {
        (ingest.run_id, "ingest_job", "SUCCESS"),
        (model.run_id, "interest_model_job", "SUCCESS"),
    }
    # a SQLite instance keeps runs, event logs and schedules in history/ and schedules/ (*.db
    # files); what stays on local disk here is the steps' captured output (storage/<run>/compute_logs)
    assert not [p.name for p in postgres_home.rglob("*.db")]
    assert not (postgres_home / "history").exists() and not (postgres_home / "schedules").exists()


def test_runs_event_logs_and_check_results_are_rows_in_postgresql(postgres_run, postgres_server):
    _, ingest, model = postgres_run
    stored_runs = dict(query(postgres_server, "SELECT run_id, status FROM runs"))
    assert stored_runs == {ingest.run_id: "SUCCESS", model.run_id: "SUCCESS"}
    for result in (ingest, model):
        materialized = sorted(e.asset_key.to_user_string() for e in result.get_asset_materialization_events())
        stored = query(
            postgres_server,
            "SELECT asset_key FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            (result.run_id,),
        )
        # event_logs keys are serialized AssetKeys: '["interest_topics"]'
        assert sorted(key.strip('[]"') for (key,) in stored) == materialized, result.job_def.name
        dagster_events = query(
            postgres_server,
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type IS NOT NULL",
            (result.run_id,),
        )[0][0]
        assert dagster_events >= len(result.all_events) > 0
    evaluations = {
        (e.asset_check_evaluation_data.asset_key.to_user_string(), e.asset_check_evaluation_data.check_name): (
            "SUCCEEDED" if e.asset_check_evaluation_data.passed else "FAILED"
        )
        for result in (ingest, model)
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    stored_checks = {
        (key.strip('[]"'), name): status
        for key, name, status in query(
            postgres_server, "SELECT asset_key, check_name, execution_status FROM asset_check_executions"
        )
    }
    assert len(evaluations) >= 20 and stored_checks == evaluations


def test_the_warehouse_pool_lives_in_postgresql(postgres_run, postgres_server):
    # deploy/local/postgres.yaml: one slot per pool, shared by every process on this instance
    limits = query(postgres_server, 'SELECT concurrency_key, "limit" FROM concurrency_limits')
    assert ("duckdb_warehouse", 1) in limits
    slots = query(postgres_server, "SELECT run_id FROM concurrency_slots WHERE concurrency_key = 'duckdb_warehouse'")
    assert slots == [(None,)]  # one slot, free again after both runs


def test_the_warehouse_is_the_one_the_sqlite_instance_builds(postgres_run, pipeline_run):
    root, _, _ = postgres_run
    with (
        duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as on_postgres,
        duckdb.connect(str(pipeline_run.warehouse), read_only=True) as on_sqlite,
    ):
        postgres_tables, sqlite_tables = table_fingerprints(on_postgres), table_fingerprints(on_sqlite)
    assert (pipeline_run.dagster_home / "history" / "runs.db").is_file()  # the baseline ran on SQLite storage
    assert postgres_tables == sqlite_tables
    assert len(postgres_tables) >= 20
    assert all(postgres_tables[t][0] > 0 for t in ("raw_behavior_logs", "interest_topics", "user_interest_layers"))


def test_sqlite_and_postgresql_hold_the_same_check_results(postgres_run, pipeline_run, postgres_server):
    sql = "SELECT asset_key, check_name, execution_status FROM asset_check_executions"
    with contextlib.closing(sqlite3.connect(pipeline_run.dagster_home / "history" / "runs" / "index.db")) as index:
        on_sqlite = index.execute(sql).fetchall()
    on_postgres = query(postgres_server, sql)
    assert len(on_postgres) >= 20 and sorted(on_postgres) == sorted(on_sqlite)


def test_on_shared_storage_a_dead_run_is_judged_only_on_its_own_machine(postgres_home, tmp_path):
    # a run without a machine name (the slot holder writes no warehouse) killed mid-write: on shared
    # storage its process id may belong to another machine, so it keeps its slot until judged there
    (tmp_path / "dagster_home").mkdir()
    shutil.copy(DEPLOY / "local/postgres.yaml", tmp_path / "dagster_home" / "dagster.yaml")
    with slot_holder(tmp_path):
        pass
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        storage = instance.event_log_storage
        (run_id,) = [
            r for r in storage.get_concurrency_run_ids() if instance.get_run_by_id(r).status.value == "STARTED"
        ]
        try:
            assert release_slots_of_dead_runs(instance) == []
            assert run_id in storage.get_concurrency_run_ids()
        finally:  # named as this machine's, it is found dead and its slot freed for the other tests
            instance.add_run_tags(run_id, {RUN_HOST_TAG: this_host()})
            assert release_slots_of_dead_runs(instance) == [run_id]
        assert run_id not in storage.get_concurrency_run_ids()
