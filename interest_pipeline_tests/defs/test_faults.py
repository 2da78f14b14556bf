"""Faults: a run killed in the middle of a write, a fresh instance created by several processes
at once, and readers while another process holds the warehouse."""

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, DagsterRunStatus

from interest_pipeline.cli import DAGSTER_YAML
from interest_pipeline.defs.instance_setup import (
    RUN_HOST_TAG,
    prepare_instance,
    release_slots_of_dead_runs,
    this_host,
)
from interest_pipeline.defs.warehouse import connect_with_retry
from interest_pipeline_tests.conftest import SMALL_SPEC
from interest_pipeline_tests.defs.slot_holder import slot_holder


def test_a_run_killed_mid_write_frees_its_slot_and_the_next_run_proceeds(tmp_path, small_sample):
    with slot_holder(tmp_path) as (home, env):
        pass  # leaving the block kills the run mid-write

    with DagsterInstance.from_config(str(home)) as instance:
        (killed_run_id,) = instance.event_log_storage.get_concurrency_run_ids()
        assert instance.get_run_by_id(killed_run_id).status == DagsterRunStatus.STARTED  # what Dagster believes
    prepare_instance(home, DAGSTER_YAML.read_text())  # what the main command does before its runs
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(killed_run_id).status == DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_run_ids() == set()
        assert release_slots_of_dead_runs(instance) == []  # idempotent

    day = SMALL_SPEC.start_date.isoformat()
    ingest = subprocess.run(
        [
            sys.executable,
            "-m",
            "interest_pipeline_tests.defs.ingest_worker",
            str(tmp_path),
            str(small_sample),
            day,
            day,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ingest.returncode == 0, ingest.stdout[-3000:] + ingest.stderr[-3000:]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM raw_behavior_logs WHERE event_id = 'never-committed'").fetchone() == (
            0,
        )
        assert conn.execute("SELECT count(*) FROM raw_behavior_logs").fetchone()[0] > 0


def test_a_run_of_another_machine_is_not_judged_by_a_process_id_here(tmp_path):
    with slot_holder(tmp_path) as (home, _):
        pass  # killed
    with DagsterInstance.from_config(str(home)) as instance:
        (run_id,) = instance.event_log_storage.get_concurrency_run_ids()
        # the same process id on another machine says nothing about it: the run keeps its slot
        instance.add_run_tags(run_id, {RUN_HOST_TAG: "another-machine"})
        assert release_slots_of_dead_runs(instance) == []
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED
        # on its own machine it is judged, found dead and released
        instance.add_run_tags(run_id, {RUN_HOST_TAG: this_host()})
        assert release_slots_of_dead_runs(instance) == [run_id]
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE


def test_runs_that_write_the_warehouse_name_their_machine(pipeline_run):
    with DagsterInstance.from_config(str(pipeline_run.dagster_home)) as instance:
        runs = instance.get_runs()
        assert runs and {run.tags.get(RUN_HOST_TAG) for run in runs} == {this_host()}


def test_a_run_that_is_still_alive_keeps_its_slot(tmp_path):
    with slot_holder(tmp_path) as (home, _), DagsterInstance.from_config(str(home)) as instance:
        assert release_slots_of_dead_runs(instance) == []
        assert len(instance.event_log_storage.get_concurrency_run_ids()) == 1


SETUP = (
    "import sys; from pathlib import Path; from interest_pipeline.cli import DAGSTER_YAML; "
    "from interest_pipeline.defs.instance_setup import prepare_instance; prepare_instance(Path(sys.argv[1]), DAGSTER_YAML.read_text())"
)


def test_a_fresh_instance_set_up_by_three_processes_at_once_works(tmp_path):
    home = tmp_path / "dagster_home"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SETUP, str(home)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_runs() == []
        assert instance.event_log_storage.get_concurrency_info("duckdb_warehouse").limit == 1


HOLD_WRITE = (
    "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); c.execute('CREATE TABLE t AS SELECT 1 AS x'); "
    "open(sys.argv[2], 'w').write('open'); time.sleep(float(sys.argv[3])); c.close()"
)


def test_a_reader_waits_for_a_writer_with_bounded_back_off(tmp_path):
    database, marker = tmp_path / "w.duckdb", tmp_path / "open"
    writer = subprocess.Popen([sys.executable, "-c", HOLD_WRITE, str(database), str(marker), "1.5"])
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline and writer.poll() is None
        time.sleep(0.05)
    with pytest.raises(duckdb.IOException, match="lock"):
        connect_with_retry(str(database), attempts=1)
    with connect_with_retry(str(database), attempts=12, first_delay=0.05, max_delay=0.5) as conn:
        assert conn.execute("SELECT x FROM t").fetchone() == (1,)
    writer.wait(timeout=60)


def test_the_daemon_sensor_frees_a_killed_cli_runs_slot_so_a_waiting_run_proceeds(tmp_path, small_sample):
    """A run started by `dagster asset materialize` and killed with kill -9 keeps its pool slot; a
    second CLI run waits for it. The dead-run sensor (evaluated here as the daemon would) fails the
    dead run and frees its slot, and the waiting run then finishes."""
    from dagster import build_sensor_context

    from interest_pipeline.defs.dead_runs import dead_run_slot_sensor

    day = SMALL_SPEC.start_date.isoformat()
    with slot_holder(tmp_path) as (home, env):
        pass  # killed with SIGKILL mid-write
    env = {
        **env,
        "INTEREST_PIPELINE_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "INTEREST_PIPELINE_EVENTS_DIR": str(small_sample / "events"),
        "INTEREST_PIPELINE_LANDING_DIR": str(tmp_path / "landing"),
        "INTEREST_PIPELINE_ITEMS_PATH": str(small_sample / "items.csv"),
    }
    waiting = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dagster")),
            "asset",
            "materialize",
            "-m",
            "interest_pipeline.definitions",
            "--select",
            "raw_behavior_logs,rejected_events",
            "--partition",
            day,
        ],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(20)
        assert waiting.poll() is None, (
            "the second run should wait for the dead run's slot: " + waiting.stdout.read()[-3000:]
        )
        with DagsterInstance.from_config(str(home)) as instance:
            result = dead_run_slot_sensor(build_sensor_context(instance=instance))
            assert "freed the pool slots of 1 dead run" in result.skip_message
        assert waiting.wait(timeout=300) == 0, waiting.stdout.read()[-3000:]
    finally:
        if waiting.poll() is None:
            waiting.kill()
    with DagsterInstance.from_config(str(home)) as instance:
        statuses = sorted(r.status.value for r in instance.get_runs())
    assert statuses == ["FAILURE", "SUCCESS"]
