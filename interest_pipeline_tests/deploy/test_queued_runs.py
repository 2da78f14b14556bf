"""Two run workers, one warehouse: runs submitted to the daemon's queue take turns on the
``duckdb_warehouse`` pool, on the PostgreSQL instance of deploy/local/postgres.yaml.

Two processes submit at the same moment: ``dagster job backfill`` (the ingest job over three days,
one run per day) and ``dagster job launch`` (a downstream asset, ``tokenized_comments``). The
queued run coordinator of ``dagster-daemon run`` launches them as separate run processes; every
asset is in the pool, whose limit is 1, so they wait for each other instead of failing on the
DuckDB file lock. The warehouse they leave is the one the same runs build one after another.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from interest_pipeline.definitions import build_definitions
from interest_pipeline.defs.conventions import WAREHOUSE_POOL
from interest_pipeline_tests.deploy.queued_deployment import group_alive, running_queued_deployment
from interest_pipeline_tests.helpers import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    SMALL_SPEC,
    make_resources,
)
from interest_pipeline_tests.table_diff import table_fingerprints

DEPLOY = Path(__file__).resolve().parents[2] / "interest_pipeline" / "deploy"
DATABASE = "queued_runs"
DAYS = [SMALL_SPEC.start_date + dt.timedelta(days=i) for i in range(6)]
BEFORE, BACKFILLED = DAYS[:3], DAYS[3:]  # ingested before the deployment starts; backfilled through the queue
DOWNSTREAM = "tokenized_comments"
RUNS_TIMEOUT = 240
# what Dagster logs when the pool makes a run wait: the daemon, for a run it keeps queued; the run
# process, for a step waiting for its slot
BLOCKED_IN_QUEUE = "is blocked by global concurrency limits"
BLOCKED_STEP = f"Step blocked by limit for pool {WAREHOUSE_POOL}"
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def ingest_days_in_process(root: Path, sample: Path, days: list[dt.date], instance: DagsterInstance) -> str:
    """The ingest job over ``days`` in one in-process run on ``root``'s warehouse; its run id."""
    result = (
        build_definitions(make_resources(root, sample))
        .resolve_job_def("ingest_job")
        .execute_in_process(
            instance=instance,
            tags={PARTITION_RANGE_START_TAG: days[0].isoformat(), PARTITION_RANGE_END_TAG: days[-1].isoformat()},
        )
    )
    assert result.success
    return result.run_id


def fresh_database(server, name: str):
    connection = server.connect(database="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.execute(f"CREATE DATABASE {name}")
    connection.close()
    return dataclasses.replace(server, database=name)


@dataclasses.dataclass
class RunTimes:
    """When one run was queued, launched, started and ended, and when its steps in the pool ran."""

    run_id: str
    what: str  # "ingest <day>" or the downstream asset
    status: DagsterRunStatus
    tags: dict[str, str]
    events: dict[str, float]  # first timestamp of each Dagster event type
    pool_steps: list[tuple[float, float]]  # (start, end) of each step in the warehouse pool
    blocked_steps: int  # "Step blocked by limit for pool ..." events: a step that waited for the slot

    def at(self, event: DagsterEventType) -> float:
        return self.events[event.value]

    def describe(self, origin: float) -> str:
        marks = ", ".join(
            f"{name} {self.at(event) - origin:+.1f} s"
            for name, event in (
                ("queued", DagsterEventType.RUN_ENQUEUED),
                ("launched", DagsterEventType.RUN_STARTING),
                ("started", DagsterEventType.RUN_START),
                ("ended", DagsterEventType.RUN_SUCCESS),
            )
            if event.value in self.events
        )
        steps = ", ".join(f"{a - origin:+.1f}..{b - origin:+.1f} s" for a, b in self.pool_steps)
        return f"{self.what}: {marks}; in the pool {steps}; steps blocked by the pool: {self.blocked_steps}"


def timeline(runs: list[RunTimes]) -> str:
    """One line per run, in seconds from the first submission."""
    origin = min(t.at(DagsterEventType.RUN_ENQUEUED) for t in runs)
    return "\n".join(t.describe(origin) for t in runs)


def run_times(instance: DagsterInstance, run) -> RunTimes:
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    in_pool = {step.key for step in plan.steps if step.pool == WAREHOUSE_POOL}
    events: dict[str, float] = {}
    starts: dict[str, float] = {}
    pool_steps = []
    blocked = 0
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is None:
            continue
        events.setdefault(event.event_type_value, entry.timestamp)
        if event.event_type == DagsterEventType.ENGINE_EVENT and (event.message or "").startswith(BLOCKED_STEP):
            blocked += 1
        if entry.step_key in in_pool and event.event_type == DagsterEventType.STEP_START:
            starts[entry.step_key] = entry.timestamp
        if entry.step_key in in_pool and event.event_type in (
            DagsterEventType.STEP_SUCCESS,
            DagsterEventType.STEP_FAILURE,
        ):
            pool_steps.append((starts.pop(entry.step_key), entry.timestamp))
    partition = run.tags.get("dagster/partition")
    return RunTimes(
        run.run_id,
        f"ingest {partition}" if partition else DOWNSTREAM,
        run.status,
        dict(run.tags),
        events,
        sorted(pool_steps),
        blocked,
    )


@dataclasses.dataclass
class QueuedRuns:
    runs: list[RunTimes]  # in the order their pool steps ran
    warehouse: Path
    daemon_log: str
    submissions: list[str]  # the two commands' output
    pool: object  # the pool's state after the runs (ConcurrencyKeyInfo)
    process_groups: list[int]  # of the code server and the daemon (and their children)
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def queued_runs(postgres_server, small_sample, tmp_path_factory) -> QueuedRuns:
    begin = time.monotonic()
    server = fresh_database(postgres_server, DATABASE)
    root = tmp_path_factory.mktemp("queued_runs")
    warehouse_root = root / "warehouse"
    warehouse_root.mkdir()
    landing = root / "landing"  # empty: the landing sensor finds nothing
    landing.mkdir()
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((DEPLOY / "local/postgres.yaml").read_text())
    env = {
        **os.environ,
        **server.dagster_environment(),
        "INTEREST_PIPELINE_WAREHOUSE": str(warehouse_root / "warehouse.duckdb"),
        "INTEREST_PIPELINE_EVENTS_DIR": str(small_sample / "events"),
        "INTEREST_PIPELINE_ITEMS_PATH": str(small_sample / "items.csv"),
        "INTEREST_PIPELINE_LANDING_DIR": str(landing),
        "INTEREST_PIPELINE_DEVICE": "cpu",
        "MLFLOW_TRACKING_URI": f"sqlite:///{warehouse_root / 'mlflow.db'}",
        "INTEREST_PIPELINE_MLFLOW_ARTIFACTS": str(warehouse_root / "mlflow-artifacts"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "HF_HUB_OFFLINE": "1",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**server.dagster_environment(), "DAGSTER_HOME": str(home)}.items():
            patch.setenv(name, value)
        with DagsterInstance.get() as instance:
            # the first days, ingested earlier on this instance: the warehouse's tables and the
            # pool (one slot, from concurrency.pools.default_limit) exist when the daemon starts
            earlier = ingest_days_in_process(warehouse_root, small_sample, BEFORE, instance)
        with running_queued_deployment(root / "deployment", home, env) as deployment:
            ready = time.monotonic()
            # the two submissions, at the same moment, from two processes
            backfill = deployment.cli(
                "job",
                "backfill",
                "-j",
                "ingest_job",
                "--partitions",
                ",".join(d.isoformat() for d in BACKFILLED),
                "--noprompt",
            )
            launch = deployment.cli("job", "launch", "-j", "__ASSET_JOB", "-o", DOWNSTREAM)
            submissions = [deployment.output_of(p) for p in (backfill, launch)]
            assert backfill.returncode == 0 and launch.returncode == 0, submissions
            with DagsterInstance.get() as instance:
                deadline = time.monotonic() + RUNS_TIMEOUT
                while True:
                    runs = [r for r in instance.get_runs() if r.run_id != earlier]
                    if len(runs) == len(BACKFILLED) + 1 and all(r.status in FINISHED for r in runs):
                        break
                    deployment.check_alive()
                    assert time.monotonic() < deadline, (
                        f"the runs did not finish within {RUNS_TIMEOUT} s: {[(r.run_id, r.status) for r in runs]}\n"
                        f"{deployment.log('daemon')[-4000:]}"
                    )
                    time.sleep(0.5)
                finished = time.monotonic()
                times = sorted((run_times(instance, run) for run in runs), key=lambda t: t.pool_steps[:1])
                pool = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
            daemon_log = deployment.log("daemon")
            groups = [p.pid for p in deployment.processes.values()]
    stopped = time.monotonic()
    result = QueuedRuns(
        times,
        warehouse_root / "warehouse.duckdb",
        daemon_log,
        submissions,
        pool,
        groups,
        {
            "setup": ready - begin,
            "submitted to all runs ended": finished - ready,
            "stopping the deployment": stopped - finished,
        },
    )
    held = sum(BLOCKED_IN_QUEUE in line for line in daemon_log.splitlines())
    print("\n" + timeline(times) + f"\nheld in the queue by the pool: {held} times")
    print({name: round(seconds, 1) for name, seconds in result.seconds.items()})
    return result


def test_both_submissions_went_through_the_queue_and_succeeded(queued_runs):
    runs = queued_runs.runs
    ingests = [t for t in runs if t.what != DOWNSTREAM]
    assert sorted(t.tags["dagster/partition"] for t in ingests) == [d.isoformat() for d in BACKFILLED]
    assert len({t.tags["dagster/backfill"] for t in ingests}) == 1  # one backfill, one run per day
    assert [t.what for t in runs].count(DOWNSTREAM) == 1
    assert {t.run_id: t.status for t in runs} == {t.run_id: DagsterRunStatus.SUCCESS for t in runs}
    for t in runs:
        # queued by the coordinator, launched by the daemon: nothing ran in the submitting process
        assert (
            t.at(DagsterEventType.RUN_ENQUEUED) < t.at(DagsterEventType.RUN_STARTING) < t.at(DagsterEventType.RUN_START)
        )
        assert len(t.pool_steps) == 1, timeline(runs)


def test_the_pool_held_the_runs_one_at_a_time(queued_runs):
    runs = queued_runs.runs
    described = timeline(runs)
    steps = sorted(step for t in runs for step in t.pool_steps)
    assert all(end <= next_start for (_, end), (next_start, _) in zip(steps, steps[1:])), described
    # all were queued before the first step in the pool ended: they had to take turns
    assert all(t.at(DagsterEventType.RUN_ENQUEUED) < runs[0].pool_steps[0][1] for t in runs), described
    # and the daemon kept runs in the queue while the pool's slot was taken (the pool existed before
    # the daemon started; on a brand-new instance the first batch is launched and its steps wait
    # for the slot in their run processes instead: "Step blocked by limit for pool")
    held_lines = [line for line in queued_runs.daemon_log.splitlines() if BLOCKED_IN_QUEUE in line]
    held = {line.split("Run ")[1].split()[0] for line in held_lines}
    assert held and held <= {t.run_id for t in runs}, described
    assert all(f'"{WAREHOUSE_POOL}": {{"granularity": "op", "slot_count": 1' in line for line in held_lines)
    # one slot, free again afterwards
    assert queued_runs.pool.slot_count == 1
    assert not queued_runs.pool.claimed_slots and not queued_runs.pool.pending_steps


def test_the_warehouse_is_what_the_same_runs_build_one_after_another(queued_runs, small_sample, tmp_path):
    ingest_days_in_process(tmp_path, small_sample, BEFORE, DagsterInstance.ephemeral())
    definitions = build_definitions(make_resources(tmp_path, small_sample))
    for t in queued_runs.runs:  # in the order the pool took them
        if t.what == DOWNSTREAM:
            job, options = definitions.resolve_implicit_global_asset_job_def(), {"op_selection": [DOWNSTREAM]}
        else:
            job, options = definitions.resolve_job_def("ingest_job"), {"partition_key": t.tags["dagster/partition"]}
        assert job.execute_in_process(instance=DagsterInstance.ephemeral(), **options).success
    with (
        duckdb.connect(str(queued_runs.warehouse), read_only=True) as queued,
        duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as serial,
    ):
        queued_tables, serial_tables = table_fingerprints(queued), table_fingerprints(serial)
        stored_days = [
            d for (d,) in queued.execute("SELECT DISTINCT log_date FROM raw_behavior_logs ORDER BY 1").fetchall()
        ]
        doubled = queued.execute(
            "SELECT count(*) - count(DISTINCT (log_date, event_id)) FROM raw_behavior_logs"
        ).fetchone()[0]
    assert queued_tables == serial_tables
    assert {"raw_behavior_logs", "rejected_events", DOWNSTREAM} <= set(queued_tables)
    assert all(queued_tables[t][0] > 0 for t in ("raw_behavior_logs", DOWNSTREAM))
    assert stored_days == DAYS and doubled == 0


def test_no_process_of_the_deployment_is_left(queued_runs):
    assert len(queued_runs.process_groups) == 2
    assert not [g for g in queued_runs.process_groups if group_alive(g)]
