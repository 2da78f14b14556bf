"""The linter configured in pyproject.toml ([tool.ruff]) passes on the package and its tests."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    assert Path(ruff).exists(), "ruff is not installed: it comes with the [test] extra"
    result = subprocess.run([ruff, "check", "interest_pipeline", "interest_pipeline_tests"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
