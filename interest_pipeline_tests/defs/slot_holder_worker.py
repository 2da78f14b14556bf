"""A run that takes the warehouse pool slot, starts a DuckDB write and then waits to be killed:
ROOT MARKER. Used by the fault test to kill a run in the middle of a write."""

import sys
import time
from pathlib import Path

import duckdb
from dagster import DagsterInstance, asset, materialize

from interest_pipeline.defs.conventions import WAREHOUSE_POOL


@asset(pool=WAREHOUSE_POOL)
def half_written_partition() -> None:
    root, marker = Path(sys.argv[1]), Path(sys.argv[2])
    conn = duckdb.connect(str(root / "warehouse.duckdb"))
    conn.execute("BEGIN TRANSACTION")
    conn.execute("CREATE TABLE IF NOT EXISTS raw_behavior_logs (log_date DATE, event_id VARCHAR)")
    conn.execute("INSERT INTO raw_behavior_logs VALUES ('2026-10-01', 'never-committed')")
    marker.write_text("writing")
    time.sleep(600)


if __name__ == "__main__":
    with DagsterInstance.get() as instance:
        materialize([half_written_partition], instance=instance)
