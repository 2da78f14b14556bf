"""Seconds per phase of a long step, reported as each phase ends.

A long computation (clustering, evaluation) takes a ``PhaseLog`` and times its phases with
``with phases.phase("reduction", "7,300 points") as phase: ...``; the log keeps the seconds of
every phase (for MLflow metrics) and hands one line per finished phase to ``report`` (the
Dagster step log, a print), so a user watching a run sees it advance. Core functions that
time phases themselves accept ``PhaseLog.record`` as a plain callback.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

# name, seconds, what was done ("7,300 points to 10 dimensions"); "" when nothing to add
PhaseCallback = Callable[[str, float, str], None]


@dataclass
class Phase:
    """The phase being timed; ``detail`` may be completed inside the block (counts known at its end)."""

    name: str
    detail: str = ""


@dataclass
class PhaseLog:
    report: Callable[[str], None] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, name: str, detail: str = "") -> Iterator[Phase]:
        phase = Phase(name, detail)
        start = time.perf_counter()
        yield phase
        self.record(name, time.perf_counter() - start, phase.detail)

    def record(self, name: str, seconds: float, detail: str = "") -> None:
        """Add a phase timed elsewhere; a repeated name adds up its seconds."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        if detail:
            self.details[name] = detail
        if self.report is not None:
            self.report(phase_line(name, seconds, detail))

    def as_metrics(self, prefix: str = "phase_seconds/") -> dict[str, float]:
        return {f"{prefix}{name}": seconds for name, seconds in self.seconds.items()}

    def summary(self) -> str:
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.seconds.items())


def phase_line(name: str, seconds: float, detail: str = "") -> str:
    return f"{name}: {detail} ({seconds:.1f} s)" if detail else f"{name}: {seconds:.1f} s"
