"""A throw-away MLflow tracking server on 127.0.0.1: a SQLite backend and an artifact folder of its
own, the artifacts proxied through the server (``mlflow-artifacts:/``), as a deployment runs it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from interest_pipeline_tests.deploy.ports import free_port


@dataclass
class MlflowServer:
    url: str
    folder: Path
    process: subprocess.Popen

    def log(self) -> str:
        return (self.folder / "server.log").read_text(errors="replace")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stop(process: subprocess.Popen) -> None:
    """The server and its workers (its own process group) end; killed after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


@contextlib.contextmanager
def running_mlflow_server(folder: Path, port: int | None = None, timeout: float = 120) -> Iterator[MlflowServer]:
    """``mlflow server`` with its store in ``folder``; stopped when the block ends."""
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"),
        *("--artifacts-destination", str(folder / "artifacts")),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    with (folder / "server.log").open("a") as log:
        # its own process group, so that its workers end with it
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=folder
        )
    server = MlflowServer(f"http://127.0.0.1:{port}", folder, process)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(server.url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not come up at {server.url}:\n{server.log()[-3000:]}")
            time.sleep(0.5)
        yield server
    finally:
        stop(process)
