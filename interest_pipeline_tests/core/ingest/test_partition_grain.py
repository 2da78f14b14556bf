"""The rule that picks a partition grain from the span of the log dates."""

import datetime as dt

import pytest

from interest_pipeline.core.ingest.partition_grain import (
    MAX_PARTITIONS,
    partitions_spanned,
    recommend_grain,
)

D = dt.date


@pytest.mark.parametrize(
    "first, last, expected",
    [
        (D(2026, 10, 1), D(2026, 10, 1), {"day": 1, "week": 1, "month": 1}),
        # Sunday to Monday: two days, two weeks (weeks start on Monday), one month
        (D(2026, 11, 1), D(2026, 11, 2), {"day": 2, "week": 2, "month": 1}),
        (D(2026, 1, 31), D(2026, 2, 1), {"day": 2, "week": 1, "month": 2}),
        # MovieLens' 22 years: the counts the README and the ingest benchmark quote
        (D(1996, 3, 29), D(2018, 9, 24), {"day": 8215, "week": 1175, "month": 271}),
    ],
)
def test_partitions_spanned_counts_every_partition_between_the_dates(first, last, expected):
    assert {grain: partitions_spanned(first, last, grain) for grain in expected} == expected


@pytest.mark.parametrize(
    "days, grain",
    [
        (1, "day"),
        (MAX_PARTITIONS, "day"),  # a year of days stays daily
        (MAX_PARTITIONS + 1, "week"),
        (7 * 300, "week"),
        (7 * MAX_PARTITIONS + 7, "month"),
        (365 * 40, "month"),  # beyond the limit even in months: months, the coarsest grain
    ],
)
def test_the_finest_grain_within_the_limit_is_recommended(days, grain):
    first = D(2001, 1, 1)
    advice = recommend_grain([first, first + dt.timedelta(days=days - 1)])
    assert advice.grain == grain
    assert advice.partitions["day"] == days
    assert advice.days_exceed_limit == (days > MAX_PARTITIONS)


def test_the_span_counts_not_the_number_of_dates():
    # three files years apart plan as many daily partitions as a file for every day between them
    sparse = recommend_grain([D(2001, 1, 5), D(2010, 6, 1), D(2020, 3, 3)])
    assert (sparse.grain, sparse.n_dates, sparse.partitions["month"]) == ("month", 3, 231)
    assert "6,998 daily partitions" in sparse.reason() and "231 monthly" in sparse.reason()


def test_a_lower_limit_moves_to_a_coarser_grain_and_no_dates_is_an_error():
    thirty_days = [D(2026, 10, 1) + dt.timedelta(days=i) for i in range(30)]
    assert recommend_grain(thirty_days).grain == "day"
    assert recommend_grain(thirty_days, max_partitions=10).grain == "week"
    with pytest.raises(ValueError, match="no log dates"):
        recommend_grain([])
