"""Masking never hangs: a megabyte of one character class, behind each prefix that makes a pattern
look further (an "at", a local part, an "@", a phone number's start or label, a written-out "at"
or "dot", digits), is masked within a generous guard.

Linear masking takes well under a second for each; the former search for a written-out "at",
which rescanned a run of spaces or brackets from each of its positions, took minutes. The guard
is a hang guard, not a speed measurement (``python -m interest_pipeline_tests.benchmarks.masking
--runs`` measures): each text is masked in a worker process, so that a hang fails its test after
the guard instead of stalling the suite.
"""

from __future__ import annotations

import math
import multiprocessing

import pytest

from interest_pipeline_tests.benchmarks.masking import ARMING_PREFIXES, RUNS, time_run

HANG_GUARD_SECONDS = 20
SIZE = 1_000_000


def _time_into(connection, unit: str, prefix: str) -> None:
    connection.send(time_run(unit, SIZE, prefix))


class Worker:
    """Masks each text in a fresh worker process, killed when it outlasts the guard (a process pool's
    terminate could itself wait forever on a stuck worker)."""

    def seconds(self, unit: str, prefix: str) -> float:
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_time_into, args=(sender, unit, prefix), daemon=True)
        process.start()
        try:
            return receiver.recv() if receiver.poll(HANG_GUARD_SECONDS) else math.inf
        finally:
            process.kill()
            process.join()

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def worker():
    worker = Worker()
    yield worker
    worker.close()


@pytest.mark.parametrize("run", list(RUNS))
def test_a_megabyte_of_one_character_class_is_masked_without_hanging(worker, run):
    seconds = {prefix: worker.seconds(RUNS[run], prefix) for prefix in ARMING_PREFIXES}
    assert {prefix: s for prefix, s in seconds.items() if s > HANG_GUARD_SECONDS} == {}
