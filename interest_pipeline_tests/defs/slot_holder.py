"""A run in another process that holds the warehouse pool slot in the middle of a write, for the
fault tests: started with the instance of a folder, killed with SIGKILL when the block ends."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from interest_pipeline.cli import DAGSTER_YAML
from interest_pipeline.defs.instance_setup import prepare_instance


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"worker ended early: {process.stdout.read()[-3000:]}")
        assert time.monotonic() < deadline, "worker never started writing"
        time.sleep(0.2)


@contextlib.contextmanager
def slot_holder(tmp_path: Path):
    """A run in another process that holds the warehouse pool slot mid-write; killed with SIGKILL on exit.

    Yields the instance folder and the environment that points at it."""
    home = tmp_path / "dagster_home"
    prepare_instance(home, DAGSTER_YAML.read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    marker = tmp_path / "writing"
    holder = subprocess.Popen(
        [sys.executable, "-m", "interest_pipeline_tests.defs.slot_holder_worker", str(tmp_path), str(marker)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(marker, holder)
        yield home, env
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
