"""The linter and the formatter configured in pyproject.toml ([tool.ruff]) pass on the package and its tests."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_finds_nothing(command):
    assert Path(RUFF).exists(), "ruff is not installed: it comes with the [test] extra"
    result = subprocess.run(
        [RUFF, *command, "interest_pipeline", "interest_pipeline_tests"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
