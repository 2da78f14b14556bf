"""A throw-away PostgreSQL server on 127.0.0.1: its own data folder, a free port, a password.

PostgreSQL refuses to run as root; where the tests run as root the server runs as the system user
``postgres`` (Debian's package creates it) or ``nobody``, through ``runuser``. Its folder is made
with ``tempfile`` rather than pytest's: pytest's folders are closed to other users.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from interest_pipeline_tests.deploy.ports import free_port

USER = "dagster"
PASSWORD = "dagster-test-password"
DATABASE = "dagster"


@dataclass(frozen=True)
class PostgresServer:
    port: int
    folder: Path
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD
    database: str = DATABASE

    def dagster_environment(self) -> dict[str, str]:
        """The variables deploy/local/postgres.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": self.database,
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
        }

    def connect(self, database: str | None = None):
        import psycopg2

        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=database or self.database
        )


def server_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: on the PATH, else Debian's versioned folder."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    return next((c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None)


def server_user() -> str | None:
    """The unprivileged user to run the server as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and neither the user postgres nor nobody exists to run PostgreSQL")


def why_not_available() -> str | None:
    """Why no server can be started here, or None when one can."""
    if server_binaries() is None:
        return "PostgreSQL's initdb and pg_ctl are not installed (Debian: apt-get install postgresql; .ci/run does it)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser, so PostgreSQL (which refuses root) cannot be started"
    return None


def _as_server_user(command: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *command] if user else command


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A fresh server with an empty database ``dagster``; stopped and deleted afterwards."""
    binaries, user = server_binaries(), server_user()
    assert binaries is not None, why_not_available()
    folder = Path(tempfile.mkdtemp(prefix="interest-pipeline-pg-"))
    data, log = folder / "data", folder / "server.log"
    (folder / "password").write_text(PASSWORD)
    if user:
        owner = pwd.getpwnam(user)
        for path in (folder, folder / "password"):
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def run(command: list[str]) -> None:
        done = subprocess.run(_as_server_user(command, user), capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            server_log = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}{server_log}")

    port = free_port()
    # password login over TCP (as a deployment uses it), no fsync: the data is thrown away
    initdb = [str(binaries / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(folder / "password")]
    run([*initdb, "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync"])
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    run([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"])
    server = PostgresServer(port=port, folder=folder)
    try:
        connection = server.connect(database="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DATABASE}")
        connection.close()
        yield server
    finally:
        run([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"])
        shutil.rmtree(folder, ignore_errors=True)
