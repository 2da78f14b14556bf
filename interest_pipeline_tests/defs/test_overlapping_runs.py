"""Overlapping runs in separate processes share one DuckDB file without failing or losing rows."""

import datetime as dt
import os
import subprocess
import sys

import duckdb
from dagster import DagsterInstance

from interest_pipeline.cli import DAGSTER_YAML
from interest_pipeline.core.ingest.event_files import find_event_files
from interest_pipeline.core.ingest.validation import load_log_date
from interest_pipeline.defs.instance_setup import prepare_instance
from interest_pipeline_tests.conftest import SMALL_SPEC


def test_overlapping_ingest_runs_all_succeed_with_exact_rows(tmp_path, small_sample):
    home = tmp_path / "dagster_home"
    # as the main command does: the instance's SQLite storage is created once, under a lock
    # (four processes creating it at the same moment race on its schema migration)
    prepare_instance(home, DAGSTER_YAML.read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    days = [SMALL_SPEC.start_date + dt.timedelta(days=i) for i in range(SMALL_SPEC.n_days)]
    # four runs at once: three single-day runs and one range run that overlaps two of them
    ranges = [(days[0], days[0]), (days[1], days[1]), (days[2], days[2]), (days[1], days[5])]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "interest_pipeline_tests.defs.ingest_worker",
                str(tmp_path),
                str(small_sample),
                a.isoformat(),
                b.isoformat(),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for a, b in ranges
    ]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    failures = [out[-3000:] for w, out in zip(workers, outputs) if w.returncode != 0]
    assert not failures, failures[0]

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        stored = dict(conn.execute("SELECT log_date, count(*) FROM raw_behavior_logs GROUP BY 1").fetchall())
        rejected = dict(conn.execute("SELECT log_date, count(*) FROM rejected_events GROUP BY 1").fetchall())
        assert (
            conn.execute("SELECT count(*) - count(DISTINCT (log_date, event_id)) FROM raw_behavior_logs").fetchone()[0]
            == 0
        )
    for day in days[:6]:
        expected = load_log_date(find_event_files(small_sample / "events", day), day)
        assert stored.get(day, 0) == expected.n_accepted, day
        assert rejected.get(day, 0) == expected.n_rejected, day
    assert set(stored) == set(days[:6])

    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.event_log_storage.get_concurrency_info("duckdb_warehouse").slot_count == 1
