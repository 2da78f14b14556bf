"""A small multi-process deployment on one machine: a code server, ``dagster-daemon run`` with the
queued run coordinator, and the instance of ``deploy/local/postgres.yaml`` on a PostgreSQL server.

The code server (``dagster api grpc``) is the only process that loads the code location; the daemon
and the command-line clients reach it through ``workspace.yaml``, and the runs the daemon takes off
the queue are launched by it as processes of their own (the default run launcher). Each process is
started in its own process group and stopped with it, run workers included.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from interest_pipeline_tests.deploy.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCATION = "interest_pipeline"


def dagster_command(name: str) -> str:
    """``dagster`` or ``dagster-daemon`` of the running Python's environment."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed beside {sys.executable} nor on the PATH"
    return found


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """The process and everything it started (its process group) end; killed after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while group_alive(process.pid):  # children that outlive the leader (run workers)
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.2)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class QueuedDeployment:
    folder: Path
    home: Path
    workspace: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        """A long-running process of the deployment, logging to ``<name>.log``."""
        with open(self.folder / f"{name}.log", "w") as log:
            process = subprocess.Popen(
                command,
                env=self.env,
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def cli(self, *arguments: str) -> subprocess.Popen:
        """``dagster <arguments>`` against the workspace, started now; output captured."""
        return subprocess.Popen(
            [dagster_command("dagster"), *arguments, "-w", str(self.workspace)],
            env=self.env,
            cwd=self.folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    @staticmethod
    def output_of(process: subprocess.Popen, timeout: float = 180) -> str:
        """What a ``cli`` command printed, once it has ended; stopped (and the test failed) after ``timeout``."""
        try:
            return process.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            stop_group(process)
            raise AssertionError(f"{process.args} did not end within {timeout:.0f} s") from None

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited with {process.returncode}:\n{self.log(name)[-4000:]}"

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            stop_group(process)


def wait_for_code_server(deployment: QueuedDeployment, port: int, timeout: float = 90) -> None:
    """Until the code server answers a health check (it loads the code location first)."""
    deadline = time.monotonic() + timeout
    command = [dagster_command("dagster"), "api", "grpc-health-check", "--host", "127.0.0.1", "--port", str(port)]
    while True:
        deployment.check_alive()
        done = subprocess.run(command, env=deployment.env, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode == 0:
            return
        assert time.monotonic() < deadline, (
            f"the code server did not answer within {timeout:.0f} s:\n{deployment.log('code_server')[-4000:]}"
        )
        time.sleep(0.5)


@contextlib.contextmanager
def running_queued_deployment(folder: Path, home: Path, env: dict[str, str]) -> Iterator[QueuedDeployment]:
    """A code server and a daemon on the instance in ``home`` (DAGSTER_HOME, with its dagster.yaml),
    both with ``env``; the automation sensor is stopped before the daemon starts."""
    folder.mkdir(parents=True)
    port = free_port()
    workspace = folder / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {port}\n      location_name: {LOCATION}\n"
    )
    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    deployment = QueuedDeployment(
        folder, home, workspace, {**env, "DAGSTER_HOME": str(home), "PYTHONPATH": python_path}
    )
    try:
        deployment.start(
            "code_server",
            [
                dagster_command("dagster"),
                *("api", "grpc", "-m", "interest_pipeline.definitions"),
                *("--host", "127.0.0.1", "--port", str(port), "--location-name", LOCATION),
            ],
        )
        wait_for_code_server(deployment, port)
        # Its eager conditions would follow the ingested days with runs of their own.
        stopped = deployment.cli("sensor", "stop", "interest_automation_sensor")
        output = deployment.output_of(stopped)
        assert stopped.returncode == 0, output
        deployment.start("daemon", [dagster_command("dagster-daemon"), "run", "-w", str(workspace)])
        yield deployment
    finally:
        deployment.stop()
