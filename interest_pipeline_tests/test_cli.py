"""The main command before its runs: a long history without a chosen grain stops it with the
settings to add, before anything is ingested."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance

from interest_pipeline.core.ingest.partition_grain import recommend_grain
from interest_pipeline.defs.ingest.partitions import GRAIN_VARIABLE, grain_to_set

REPO = Path(__file__).resolve().parents[1]
LOG_DATES = ("2001-01-05", "2010-06-01", "2020-03-03")  # 6,998 days, 231 months


def write_event_files(folder: Path) -> None:
    folder.mkdir(parents=True)
    for day in LOG_DATES:
        (folder / f"events_{day}.csv").write_text(f"user_id,event_type,timestamp,item_id\nu1,view,{day}T10:00:00Z,i1\n")


def run_main_command(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess:
    # A process of its own: partitions are built from the environment when the definitions load.
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTEREST_PIPELINE_")}
    env.update(
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        INTEREST_PIPELINE_EVENTS_DIR=str(tmp_path / "events"),
        INTEREST_PIPELINE_WAREHOUSE=str(tmp_path / "warehouse.duckdb"),
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
        **settings,
    )
    return subprocess.run(
        [sys.executable, "-m", "interest_pipeline", "run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "settings, expected_lines",
    [
        (
            {"INTEREST_PIPELINE_START_DATE": LOG_DATES[0]},
            [f"export {GRAIN_VARIABLE}=month"],
        ),
        # both settings the history needs, in one message
        ({}, [f"export INTEREST_PIPELINE_START_DATE={LOG_DATES[0]}", f"export {GRAIN_VARIABLE}=month"]),
    ],
)
def test_a_long_history_without_a_grain_stops_before_ingesting(tmp_path, settings, expected_lines):
    write_event_files(tmp_path / "events")
    done = run_main_command(tmp_path, **settings)
    assert done.returncode == 1, done.stdout + done.stderr
    message = done.stderr
    assert "6,998 daily partitions" in message and "231 monthly" in message
    assert "Nothing was ingested" in message
    assert [line.strip() for line in message.splitlines() if line.strip().startswith("export ")] == expected_lines
    assert f"{GRAIN_VARIABLE}=day keeps daily partitions" in message
    assert "ingesting log dates" not in done.stdout
    assert not (tmp_path / "warehouse.duckdb").exists()
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        assert instance.get_runs_count() == 0


def test_a_grain_the_user_chose_is_kept_and_a_short_history_needs_none():
    long_history = recommend_grain(dt.date.fromisoformat(d) for d in LOG_DATES)
    assert grain_to_set({}, long_history) == "month"
    assert grain_to_set({GRAIN_VARIABLE: ""}, long_history) == "month"
    assert grain_to_set({GRAIN_VARIABLE: "day"}, long_history) is None
    assert grain_to_set({GRAIN_VARIABLE: "week"}, long_history) is None
    thirty_days = recommend_grain([dt.date(2026, 10, 1), dt.date(2026, 10, 30)])
    assert grain_to_set({}, thirty_days) is None
