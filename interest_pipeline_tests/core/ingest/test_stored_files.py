"""A log date's stored rows are replaced only with what its files now say."""

import datetime as dt
from pathlib import Path

import polars as pl

from interest_pipeline.core.ingest.stored_files import lost_stored_files

DAY = dt.date(2026, 10, 5)


def stored(*rows):
    return pl.DataFrame(rows, schema={"log_date": pl.Date, "source_file": pl.String, "rows": pl.Int64}, orient="row")


def test_a_file_still_holding_rows_may_hold_fewer():
    files = {DAY: [Path("/events/events_2026-10-05.csv")]}
    lost = lost_stored_files(stored((DAY, "/events/events_2026-10-05.csv", 3)), files, {str(files[DAY][0]): 1})
    assert lost == []


def test_a_vanished_file_is_named_with_its_day_and_rows():
    files = {DAY: [Path("/events/events_2026-10-05_a.csv")]}
    lost = lost_stored_files(
        stored((DAY, "/events/events_2026-10-05_a.csv", 2), (DAY, "/events/events_2026-10-05_b.csv", 1)),
        files,
        {str(files[DAY][0]): 2},
    )
    assert lost == [
        "log date 2026-10-05: events_2026-10-05_b.csv held 1 stored row(s) and is no longer in the events or landing folder"
    ]


def test_an_emptied_file_is_named():
    path = Path("/events/events_2026-10-05.jsonl")
    lost = lost_stored_files(stored((DAY, str(path), 4)), {DAY: [path]}, {str(path): 0})
    assert len(lost) == 1 and "now holds none" in lost[0] and str(path) in lost[0]


def test_a_file_moved_between_landing_and_events_is_the_same_file():
    moved = Path("/events/events_2026-10-05.csv")
    assert lost_stored_files(stored((DAY, "/landing/events_2026-10-05.csv", 3)), {DAY: [moved]}, {str(moved): 3}) == []


def test_dates_outside_the_run_and_files_of_duplicates_only_are_left_alone():
    other_day = dt.date(2026, 10, 6)
    files = {DAY: [Path("/events/events_2026-10-05.csv")]}
    lost = lost_stored_files(
        stored((other_day, "/events/events_2026-10-06.csv", 5), (DAY, "/events/events_2026-10-05_old.csv", 0)),
        files,
        {str(files[DAY][0]): 1},
    )
    assert lost == []


def test_the_stored_name_is_compared_as_it_was_written():
    path = Path("/events/events_2026-10-05_jo@example.com.csv")
    masked = "/events/events_2026-10-05_[email].csv"
    assert (
        lost_stored_files(
            stored((DAY, masked, 1)),
            {DAY: [path]},
            {str(path): 1},
            stored_name=lambda p: p.replace("jo@example.com", "[email]"),
        )
        == []
    )
