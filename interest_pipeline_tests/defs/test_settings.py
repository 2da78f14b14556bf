"""Deployment settings that are set wrongly fail at once, naming the setting or the path."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from interest_pipeline.defs.resources import Warehouse
from interest_pipeline.defs.settings import setting, setting_value

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["", "  "])
def test_a_blank_setting_is_an_error_not_the_default(monkeypatch, value):
    monkeypatch.setenv("INTEREST_PIPELINE_WAREHOUSE", value)
    with pytest.raises(ValueError, match="INTEREST_PIPELINE_WAREHOUSE is set but blank"):
        setting_value("INTEREST_PIPELINE_WAREHOUSE")
    with pytest.raises(ValueError, match="set but blank"):
        setting("INTEREST_PIPELINE_WAREHOUSE")


def test_an_unset_setting_takes_the_default(monkeypatch):
    monkeypatch.delenv("INTEREST_PIPELINE_WAREHOUSE", raising=False)
    assert setting_value("INTEREST_PIPELINE_WAREHOUSE") == "data/warehouse.duckdb"


def test_a_warehouse_in_a_missing_folder_fails_at_once_naming_it(tmp_path):
    warehouse = Warehouse(database=str(tmp_path / "no_such_folder" / "w.duckdb"))
    started = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="no_such_folder"), warehouse.get_connection():
        pass
    assert time.perf_counter() - started < 30  # not DuckDB's lock retries (about 100 s)
    with Warehouse(database=str(tmp_path / "w.duckdb")).get_connection() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_the_code_location_refuses_a_blank_warehouse_setting(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "INTEREST_PIPELINE_WAREHOUSE": " ", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", "import interest_pipeline.definitions"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "INTEREST_PIPELINE_WAREHOUSE is set but blank" in done.stderr
