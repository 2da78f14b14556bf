"""Setting up the local Dagster instance safely: created once, and freed of dead runs' pool slots.

Two faults are handled here. Several processes creating a fresh SQLite instance at the same
moment race on its schema migration and can leave it broken, so the first creation is done
under an exclusive file lock. A run killed without a chance to clean up (kill -9, a crash, a
lost machine) keeps its slot in the ``duckdb_warehouse`` pool, and every later run waits for it
forever; before new runs start, such runs are marked failed and their slots freed. The daemon's
run monitoring (``run_monitoring`` in ``deploy/local/dagster.yaml``) frees the slots of runs
that ended; this covers runs whose process is gone without ever ending.

A process id means something only on the machine that runs it. Runs that write the warehouse tag
themselves with their machine's name (``RUN_HOST_TAG``, set by the warehouse resource); a run is
judged by its process only on that machine, and a run without the tag only where the instance's
run storage is local (SQLite or in memory: one machine by construction). On shared storage
(PostgreSQL) with run workers elsewhere, their dead runs are left to Dagster's run monitoring or
to ``python -m interest_pipeline release-slots`` on their own machine.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterInstance
from dagster._core.storage.dagster_run import FINISHED_STATUSES

LOCK_NAME = ".instance-setup.lock"
RUN_HOST_TAG = "interest_pipeline/host"


def this_host() -> str:
    return socket.gethostname()


def _local_run_storage(instance: DagsterInstance) -> bool:
    """Whether the run storage lives on this machine only (SQLite file or memory)."""
    from dagster._core.storage.runs import InMemoryRunStorage, SqliteRunStorage

    return isinstance(instance.run_storage, SqliteRunStorage | InMemoryRunStorage)


@contextmanager
def instance_setup_lock(home: Path) -> Iterator[None]:
    """An exclusive lock on the instance folder, held by one process at a time."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_NAME, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_instance(home: Path, config_text: str) -> None:
    """Write dagster.yaml if missing, create (migrate) the storage once, release dead runs' slots."""
    with instance_setup_lock(home):
        config = home / "dagster.yaml"
        if not config.exists():
            config.write_text(config_text)
        with DagsterInstance.from_config(str(home)) as instance:
            release_slots_of_dead_runs(instance)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _run_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The process that last wrote an event of the run (the run's own process)."""
    records = instance.get_records_for_run(run_id, limit=50, ascending=False).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.pid is not None:
            return event.pid
    return None


def release_slots_of_dead_runs(instance: DagsterInstance) -> list[str]:
    """Free the concurrency slots of runs that ended, or whose process on this machine is gone
    (those are marked failed first); returns the ids of the runs released. A run is judged by its
    process only where it ran (module docstring)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    local_storage = _local_run_storage(instance)
    released = []
    for run_id in sorted(storage.get_concurrency_run_ids()):
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status not in FINISHED_STATUSES:
            host = run.tags.get(RUN_HOST_TAG)
            if host != this_host() and not (host is None and local_storage):
                continue  # its process lives on another machine: its id says nothing here
            pid = _run_pid(instance, run_id)
            if pid is None or pid == os.getpid() or _process_alive(pid):
                continue
            instance.report_run_failed(
                run, f"process {pid} of the run is gone (killed or crashed); its pool slots are freed"
            )
        storage.free_concurrency_slots_for_run(run_id)
        released.append(run_id)
    return released
