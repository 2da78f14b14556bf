"""Which partition grain suits a history of log dates: days, weeks or months.

Ingest cost follows the number of partitions a run plans, not its rows: Dagster keeps a few
records per partition and asset. Measured: 22 years of movie ratings (104,519 events) spent
about 600 s in ingest as 8,215 daily partitions and about 30 s as monthly ones. A run over a
range plans every partition between its first and last log date, with files or without, so the
rule looks at the span of the dates, not at how many of them have files.

The rule: the finest grain whose partitions over the span number at most
:data:`MAX_PARTITIONS` (days up to about a year, weeks up to about seven years, months beyond;
months also when even they exceed the limit, as no coarser grain exists).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

GRAINS = ("day", "week", "month")
# A year of days fits; ingest bookkeeping at this size costs tens of seconds, not minutes.
MAX_PARTITIONS = 400
ADJECTIVES = {"day": "daily", "week": "weekly", "month": "monthly"}


def grain_start(day: dt.date, grain: str) -> dt.date:
    """The first log date of the partition holding ``day`` (weeks start on Monday)."""
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def partitions_spanned(first: dt.date, last: dt.date, grain: str) -> int:
    """How many partitions of ``grain`` hold the log dates ``first`` to ``last`` (inclusive)."""
    if last < first:
        raise ValueError(f"the last log date {last} is before the first {first}")
    if grain == "month":
        return (last.year - first.year) * 12 + last.month - first.month + 1
    step = 7 if grain == "week" else 1
    return (grain_start(last, grain) - grain_start(first, grain)).days // step + 1


@dataclass(frozen=True)
class GrainAdvice:
    """The grain recommended for a set of log dates, and the partitions each grain would plan."""

    grain: str
    first: dt.date
    last: dt.date
    n_dates: int  # distinct log dates
    partitions: dict[str, int]  # grain -> partitions over first..last
    max_partitions: int = MAX_PARTITIONS

    @property
    def days_exceed_limit(self) -> bool:
        return self.partitions["day"] > self.max_partitions

    def reason(self) -> str:
        """One sentence: the span, what the daily grain would plan, and what the recommended one plans."""
        span = f"{self.n_dates:,d} log dates from {self.first} to {self.last}"
        if self.grain == "day":
            return f"{span}: {self.partitions['day']:,d} daily partitions (at most {self.max_partitions:,d})"
        return (
            f"{span}: {self.partitions['day']:,d} daily partitions (more than {self.max_partitions:,d}), "
            f"{self.partitions[self.grain]:,d} {ADJECTIVES[self.grain]} ones"
        )


def recommend_grain(log_dates: Iterable[dt.date], max_partitions: int = MAX_PARTITIONS) -> GrainAdvice:
    """The finest grain whose partitions over the dates' span number at most ``max_partitions``."""
    dates = sorted(set(log_dates))
    if not dates:
        raise ValueError("no log dates to recommend a partition grain for")
    first, last = dates[0], dates[-1]
    partitions = {grain: partitions_spanned(first, last, grain) for grain in GRAINS}
    grain = next((g for g in GRAINS if partitions[g] <= max_partitions), GRAINS[-1])
    return GrainAdvice(grain, first, last, len(dates), partitions, max_partitions)
