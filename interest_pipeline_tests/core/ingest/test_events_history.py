"""Many log dates at once: one folder listing, one validation pass, one summary of the empty days."""

import datetime as dt

import polars as pl

from interest_pipeline.core.ingest.event_files import event_files_by_date, summarise_dates
from interest_pipeline.core.ingest.validation import load_log_date, load_log_dates, reject_event_ids_used_elsewhere

HEADER = "event_id,user_id,item_id,event_type,timestamp\n"


def test_days_without_files_are_summarised_by_count_and_ends():
    days = [dt.date(2000, 1, 1) + dt.timedelta(days=k) for k in range(100)]
    assert summarise_dates(days[:4]) == "2000-01-01, 2000-01-02, 2000-01-03, 2000-01-04"
    assert (
        summarise_dates(list(reversed(days)))
        == "2000-01-01, 2000-01-02, 2000-01-03, …, 2000-04-07, 2000-04-08, 2000-04-09"
    )


def test_one_listing_finds_every_date_and_leaves_out_files_in_progress(tmp_path):
    for name in (
        "events_2026-10-01.csv",
        "events_2026-10-01-late.jsonl",
        "events_2026-10-03.parquet",
        ".events_2026-10-02.csv",
        "events_2026-10-02.csv.part",
        "items.csv",
    ):
        (tmp_path / name).write_text("x\n")
    found = event_files_by_date(tmp_path)
    assert {day.isoformat(): [p.name for p in paths] for day, paths in found.items()} == {
        "2026-10-01": ["events_2026-10-01-late.jsonl", "events_2026-10-01.csv"],
        "2026-10-03": ["events_2026-10-03.parquet"],
    }


def test_one_pass_over_several_dates_equals_one_pass_per_date(tmp_path):
    rows = {
        "2026-10-01": [
            "e1,u1,i1,view,2026-10-01T10:00:00Z",
            "e1,u1,i1,view,2026-10-01T10:00:00Z",
            "e2,u1,i1,view,2026-10-03T10:00:00Z",
        ],
        "2026-10-02": ["e1,u2,i2,click,2026-10-02T10:00:00Z", "e3,u2,i2,click,2026-10-01T01:00:00Z"],
    }
    files = {}
    for day, lines in rows.items():
        path = tmp_path / f"events_{day}.csv"
        path.write_text(HEADER + "\n".join(lines) + "\n")
        files[dt.date.fromisoformat(day)] = [path]
    files[dt.date(2026, 10, 3)] = []

    together = load_log_dates(files)
    assert together.counts.rows() == [
        (dt.date(2026, 10, 1), 3, 1),
        (dt.date(2026, 10, 2), 2, 0),
        (dt.date(2026, 10, 3), 0, 0),
    ]
    apart = [load_log_date(paths, day) for day, paths in files.items()]
    assert together.accepted.sort("log_date", "source_row").equals(
        pl.concat([r.accepted for r in apart]).sort("log_date", "source_row")
    )
    # the timestamp of e2 is two days after its file's date: rejected by its own log date, not the run's
    assert any("outside the log date 2026-10-01" in reason for reason in together.rejected["reason"])

    resolved = reject_event_ids_used_elsewhere(together, together.accepted.head(0).select("event_id", "log_date"))
    assert resolved.accepted.filter(resolved.accepted["event_id"] == "e1")["log_date"].to_list() == [
        dt.date(2026, 10, 1)
    ]
    assert "event_id 'e1' is already used on log date 2026-10-01" in resolved.rejected["reason"].to_list()
