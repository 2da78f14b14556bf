"""Partition grains: which log dates a partition holds, and which partition the schedule and sensor pick."""

import datetime as dt

import pytest
from dagster import PartitionKeyRange

from interest_pipeline.defs.ingest.partitions import (
    GRAIN_VARIABLE,
    build_log_partitions,
    grain_start,
    log_dates_of,
    partition_grain,
    partition_key_of,
    partition_keys_between,
    partition_to_ingest,
)

START = dt.date(1996, 3, 29)  # a Friday, mid-month: neither a week's nor a month's first day


def test_the_grain_comes_from_the_environment_and_a_bad_one_names_the_variable():
    assert partition_grain({}) == "day"
    assert partition_grain({GRAIN_VARIABLE: " Month "}) == "month"
    with pytest.raises(ValueError, match=GRAIN_VARIABLE):
        partition_grain({GRAIN_VARIABLE: "year"})


@pytest.mark.parametrize(
    "grain, first_key, days_in_first",
    [("day", "1996-03-29", 1), ("week", "1996-03-25", 7), ("month", "1996-03-01", 31)],
)
def test_the_first_partition_holds_the_start_date(grain, first_key, days_in_first):
    partitions = build_log_partitions(grain, START)
    assert partitions.get_first_partition_key() == first_key == partition_key_of(partitions, START)
    dates = log_dates_of(partitions, [first_key])
    assert len(dates) == days_in_first and START in dates
    assert dates == sorted(dates) and dates[-1] - dates[0] == dt.timedelta(days=days_in_first - 1)


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_the_keys_of_a_range_cover_every_log_date_once(grain):
    partitions = build_log_partitions(grain, START, end_date=dt.date(1999, 1, 1))
    first, last = dt.date(1996, 4, 17), dt.date(1998, 2, 3)
    keys = partition_keys_between(partitions, first, last)
    dates = log_dates_of(partitions, keys)
    assert len(dates) == len(set(dates))
    assert dates[0] <= first and dates[-1] >= last
    assert set(dates) >= {first + dt.timedelta(days=k) for k in range((last - first).days + 1)}
    assert keys == list(partitions.get_partition_keys_in_range(PartitionKeyRange(keys[0], keys[-1])))
    # one key per distinct first day of a week or month in the range
    days = [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
    assert len(keys) == len({grain_start(day, grain) for day in days})


def test_a_22_year_history_is_a_few_hundred_monthly_partitions():
    partitions = build_log_partitions("month", START, end_date=dt.date(2018, 10, 1))
    assert len(partitions.get_partition_keys()) == 271
    assert (
        len(build_log_partitions("day", START, end_date=dt.date(2018, 9, 25)).get_partition_keys())
        == (dt.date(2018, 9, 25) - START).days
        == 8_215
    )


@pytest.mark.parametrize(
    "grain, expected_key", [("day", "2026-10-11"), ("week", "2026-10-05"), ("month", "2026-10-01")]
)
def test_the_daily_ingest_takes_the_partition_of_the_day_that_just_closed(grain, expected_key):
    partitions = build_log_partitions(grain, dt.date(2026, 1, 1))
    key, day = partition_to_ingest(partitions, dt.datetime(2026, 10, 12, 0, 30, tzinfo=dt.UTC))
    assert (key, day) == (expected_key, dt.date(2026, 10, 11))
    # the partition exists at that moment (weeks and months are partitions from their first day)
    assert key in partitions.get_partition_keys(current_time=dt.datetime(2026, 10, 12, 0, 30, tzinfo=dt.UTC))


def test_the_daily_ingest_has_a_freshness_deadline_after_the_schedule():
    from dagster import AssetKey

    from interest_pipeline.definitions import defs

    policy = defs.resolve_asset_graph().get(AssetKey("raw_behavior_logs")).freshness_policy
    schedule = defs.resolve_schedule_def("daily_ingest_schedule")
    assert policy.deadline_cron == "0 3 * * *" and policy.timezone == "UTC" and schedule.cron_schedule == "30 0 * * *"
    # the 00:30 run lies inside the window the 03:00 deadline looks back over
    assert policy.lower_bound_delta >= dt.timedelta(hours=2, minutes=30)
