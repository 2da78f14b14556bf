"""Wall time, CPU time and peak memory of a block of code or of each step of an in-process run.

CPU time is the process's user + system time (``getrusage(RUSAGE_SELF)``), so it counts
every thread: torch, DuckDB and numba worker threads included; it can exceed wall time.

Peak memory is the process's peak resident set size during the measured window: on Linux
the high-water mark (VmHWM) is reset through ``/proc/self/clear_refs`` at the start and read
at the end. It is the whole process (interpreter, loaded model, data kept by earlier steps),
not what the step alone allocated; ``start_rss_mb`` is the resident size when the window
opened, so ``peak - start`` is what the step added at its peak. Where the reset is not
allowed, the peak is ``ru_maxrss``, the process peak so far (it never decreases), and
``peak_rss_kind`` says so.

``others_cores`` is how busy the machine was with other processes during the window: the
machine's busy CPU time (``/proc/stat``) minus this process's, per wall second. Timings
taken while it is well above zero are slowed by other work, and the CPU time of
multi-threaded code can grow too (threads wait on each other when cores are shared).
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have spent busy since boot (nan if unknown)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _status_mb(field: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb() -> float:
    current = _status_mb("VmRSS")
    return current if current is not None else float("nan")


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


PEAK_RESETTABLE = _reset_peak()
PEAK_RSS_KIND = "window peak (VmHWM reset at start)" if PEAK_RESETTABLE else "process peak so far (ru_maxrss)"


def peak_rss_mb() -> float:
    if PEAK_RESETTABLE:
        peak = _status_mb("VmHWM")
        if peak is not None:
            return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Usage:
    wall_s: float = float("nan")
    cpu_s: float = float("nan")
    peak_rss_mb: float = float("nan")
    start_rss_mb: float = float("nan")
    others_cores: float = float("nan")

    def as_dict(self) -> dict:
        return {k: round(v, 3) for k, v in asdict(self).items()}


class Window:
    """An open measurement: started now, closed by :meth:`close`."""

    def __init__(self) -> None:
        self.start_rss = rss_mb()
        if PEAK_RESETTABLE:
            _reset_peak()
        self.start_busy = machine_busy_seconds()
        self.start_cpu = cpu_seconds()
        self.start_wall = time.perf_counter()

    def close(self) -> Usage:
        wall = time.perf_counter() - self.start_wall
        cpu = cpu_seconds() - self.start_cpu
        others = (machine_busy_seconds() - self.start_busy - cpu) / wall if wall > 0 else float("nan")
        return Usage(
            wall_s=wall,
            cpu_s=cpu,
            peak_rss_mb=peak_rss_mb(),
            start_rss_mb=self.start_rss,
            others_cores=max(others, 0.0),
        )


@contextlib.contextmanager
def measured():
    """``with measured() as usage: ...``; ``usage`` is filled when the block ends."""
    usage = Usage()
    window = Window()
    try:
        yield usage
    finally:
        closed = window.close()
        for name, value in vars(closed).items():
            setattr(usage, name, value)


@dataclass
class StepWindow:
    step_key: str
    status: str  # success | failure
    started_at: float  # event timestamp (epoch seconds)
    usage: Usage  # wall_s from the step's start and end event timestamps


class StepProbe:
    """Measures each step of the in-process runs of one Dagster instance.

    The in-process executor runs steps one after another in this process and hands every
    event to ``instance.handle_new_event`` as it happens; the probe wraps that method for
    the duration of a ``with`` block and opens a :class:`Window` at STEP_START and closes it
    at STEP_SUCCESS / STEP_FAILURE. Events are passed on unchanged.
    """

    def __init__(self, instance) -> None:
        self._instance = instance
        self._open: dict[str, tuple[float, Window]] = {}
        self.steps: list[StepWindow] = []

    def __enter__(self) -> StepProbe:
        original = self._instance.handle_new_event

        def handle_new_event(event, **kwargs):
            self._observe(event)
            return original(event, **kwargs)

        self._instance.handle_new_event = handle_new_event
        return self

    def __exit__(self, *exc) -> None:
        del self._instance.handle_new_event  # the class's method is visible again

    def take(self) -> list[StepWindow]:
        steps, self.steps = self.steps, []
        return steps

    def _observe(self, event) -> None:
        from dagster import DagsterEventType

        dagster_event = event.dagster_event
        if dagster_event is None or not event.step_key:
            return
        kind = dagster_event.event_type
        if kind == DagsterEventType.STEP_START:
            self._open[event.step_key] = (event.timestamp, Window())
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE) and event.step_key in self._open:
            started_at, window = self._open.pop(event.step_key)
            usage = window.close()
            usage.wall_s = event.timestamp - started_at
            status = "success" if kind == DagsterEventType.STEP_SUCCESS else "failure"
            self.steps.append(StepWindow(event.step_key, status, started_at, usage))
