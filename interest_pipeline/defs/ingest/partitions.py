"""Partitions of the behaviour logs: one per day, week or month of log dates.

Every event keeps its own ``log_date`` (the date in its file's name) in the warehouse; the grain
only decides how many log dates one partition holds. Days suit daily operation; a history of
years is better as weeks or months (about 1,200 or 270 partitions for 22 years instead of
8,000), since Dagster's per-partition bookkeeping and its UI grow with the number of partitions.

``INTEREST_PIPELINE_PARTITION_GRAIN`` (``day``, the default, ``week`` or ``month``),
``INTEREST_PIPELINE_START_DATE`` and ``INTEREST_PIPELINE_END_DATE`` (optional, for a closed
history) are read once, when the code location loads.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping

from dagster import (
    DailyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
    partition_loading_context,
)

from interest_pipeline.core.ingest.partition_grain import GRAINS, GrainAdvice, grain_start

GRAIN_VARIABLE = "INTEREST_PIPELINE_PARTITION_GRAIN"
START_DATE_VARIABLE = "INTEREST_PIPELINE_START_DATE"
END_DATE_VARIABLE = "INTEREST_PIPELINE_END_DATE"
DEFAULT_START_DATE = "2026-10-01"


def partition_grain(environ: Mapping[str, str]) -> str:
    """The grain named by the environment (``day`` when unset); anything else raises, naming the variable."""
    grain = (environ.get(GRAIN_VARIABLE) or "day").strip().lower()
    if grain not in GRAINS:
        raise ValueError(f"{GRAIN_VARIABLE}={environ.get(GRAIN_VARIABLE)!r}: expected one of {', '.join(GRAINS)}")
    return grain


def grain_to_set(environ: Mapping[str, str], advice: GrainAdvice) -> str | None:
    """The grain a run should be given before it starts: the recommended one when the user has not
    chosen a grain and the default daily grain would plan more partitions than the limit; else None
    (a grain the user set, even ``day``, is kept)."""
    if (environ.get(GRAIN_VARIABLE) or "").strip() or not advice.days_exceed_limit:
        return None
    return advice.grain


def _date_setting(environ: Mapping[str, str], name: str, default: str | None) -> dt.date | None:
    value = environ.get(name) or default
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{name}={value!r}: expected a date such as 2026-10-01") from None


def build_log_partitions(
    grain: str, start_date: dt.date, end_date: dt.date | None = None
) -> TimeWindowPartitionsDefinition:
    """The partitions of ``grain`` from the one holding ``start_date``; ``end_date`` (exclusive) closes the set.

    Days end with yesterday (a day is ingested once it has closed). A week or month is a
    partition from its first day, so the current one can be ingested day by day as its files
    arrive (each run replaces the whole week or month); its later days are simply empty.
    """
    first = grain_start(start_date, grain).isoformat()
    last = end_date.isoformat() if end_date else None
    if grain == "week":
        return WeeklyPartitionsDefinition(start_date=first, end_date=last, day_offset=1, timezone="UTC", end_offset=1)
    if grain == "month":
        return MonthlyPartitionsDefinition(start_date=first, end_date=last, timezone="UTC", end_offset=1)
    return DailyPartitionsDefinition(start_date=first, end_date=last, timezone="UTC")


PARTITION_GRAIN = partition_grain(os.environ)
# The first log date; a deployment with older logs sets INTEREST_PIPELINE_START_DATE.
LOGS_START_DATE = _date_setting(os.environ, START_DATE_VARIABLE, DEFAULT_START_DATE).isoformat()
LOGS_END_DATE = _date_setting(os.environ, END_DATE_VARIABLE, None)

log_partitions = build_log_partitions(PARTITION_GRAIN, dt.date.fromisoformat(LOGS_START_DATE), LOGS_END_DATE)
# The name used before partitions could be coarser than a day.
daily_log_partitions = log_partitions


def partition_key_of(partitions: TimeWindowPartitionsDefinition, day: dt.date) -> str:
    """The key of the partition that holds log date ``day`` (whether or not the set holds it yet)."""
    return partitions.get_partition_key_for_timestamp(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp())


def log_dates_of(partitions: TimeWindowPartitionsDefinition, keys: Iterable[str]) -> list[dt.date]:
    """Every log date the partitions ``keys`` hold, in order."""
    dates: list[dt.date] = []
    for key in keys:
        window = partitions.time_window_for_partition_key(key)
        day, end = window.start.date(), window.end.date()
        while day < end:
            dates.append(day)
            day += dt.timedelta(days=1)
    return dates


def partition_keys_between(partitions: TimeWindowPartitionsDefinition, first: dt.date, last: dt.date) -> list[str]:
    """The keys of the partitions holding log dates ``first`` to ``last`` (inclusive), in order."""
    first_key, last_key = partition_key_of(partitions, first), partition_key_of(partitions, last)
    keys = [first_key]
    while keys[-1] != last_key:
        window = partitions.time_window_for_partition_key(keys[-1])
        keys.append(partition_key_of(partitions, window.end.date()))
    return keys


def last_log_date(partitions: TimeWindowPartitionsDefinition, today: dt.date | None = None) -> dt.date:
    """The last log date a run may ingest now: the last day of the last partition (yesterday for
    days; for weeks and months the current one's last day), and never after today (UTC)."""
    now = dt.datetime.now(dt.UTC) if today is None else dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
    today = now.date()
    with partition_loading_context(effective_dt=now):
        last_key = partitions.get_last_partition_key()
    if last_key is None:
        return partitions.start.date() - dt.timedelta(days=1)
    return min(partitions.time_window_for_partition_key(last_key).end.date() - dt.timedelta(days=1), today)


def partition_to_ingest(partitions: TimeWindowPartitionsDefinition, execution_time: dt.datetime) -> tuple[str, dt.date]:
    """(key, log date) for a daily ingest at ``execution_time``: the day that just closed (UTC) and its partition."""
    closed_day = execution_time.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    return partition_key_of(partitions, closed_day), closed_day
