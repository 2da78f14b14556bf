"""A day's stored rows never shrink silently: a file that vanished, a mistyped landing folder, a
file truncated to nothing or to its header, each fails the run naming the file; asked for, the day
is replaced. Files dated after the last closed day wait instead of being planned."""

import datetime as dt

import pytest

from interest_pipeline.core.ingest.event_files import files_not_ingested, not_ingested_reason
from interest_pipeline.defs.ingest.partitions import build_log_partitions, last_log_date
from interest_pipeline.defs.resources import ALLOW_EMPTY_PARTITIONS_VARIABLE
from interest_pipeline_tests.defs.test_ingest_safety import DAY, failure_message, ingest, stored, view, write_events


def test_a_day_that_loses_one_of_its_files_fails_naming_it(tmp_path):
    write_events(tmp_path / "events", DAY, [view("e1")], name=f"events_{DAY}_a.csv")
    second = write_events(tmp_path / "events", DAY, [view("e2"), view("e3")], name=f"events_{DAY}_b.csv")
    assert ingest(tmp_path).success
    second.unlink()
    result = ingest(tmp_path)
    assert not result.success
    message = failure_message(result)
    assert f"events_{DAY}_b.csv held 2 stored row(s) and is no longer" in message
    assert ALLOW_EMPTY_PARTITIONS_VARIABLE in message
    assert stored(tmp_path) == [(DAY, "e1"), (DAY, "e2"), (DAY, "e3")]
    assert ingest(tmp_path, allow_empty=True).success
    assert stored(tmp_path) == [(DAY, "e1")]


@pytest.mark.parametrize(
    "name, truncated",
    [(f"events_{DAY}.jsonl", b""), (f"events_{DAY}.csv", b"event_id,user_id,item_id,event_type,timestamp\n")],
    ids=["empty jsonl", "header-only csv"],
)
def test_a_truncated_file_does_not_empty_its_day(tmp_path, name, truncated):
    path = tmp_path / "events" / name
    path.parent.mkdir()
    if name.endswith(".jsonl"):
        path.write_text(
            '{"event_id": "e1", "user_id": "u1", "item_id": "i1", "event_type": "view", '
            f'"timestamp": "{DAY}T10:00:00Z"}}\n'
        )
    else:
        write_events(tmp_path / "events", DAY, [view("e1")])
    assert ingest(tmp_path).success and stored(tmp_path) == [(DAY, "e1")]
    path.write_bytes(truncated)
    result = ingest(tmp_path)
    assert not result.success
    assert f"{path} held 1 stored row(s) and now holds none" in failure_message(result)
    assert stored(tmp_path) == [(DAY, "e1")]


def test_a_mistyped_landing_folder_fails_instead_of_shrinking_the_day(tmp_path):
    write_events(tmp_path / "events", DAY, [view("e1")])
    write_events(tmp_path / "landing", DAY, [view("e2")], name=f"events_{DAY}_late.csv")
    assert ingest(tmp_path).success and stored(tmp_path) == [(DAY, "e1"), (DAY, "e2")]
    (tmp_path / "landing").rename(tmp_path / "lnading")
    result = ingest(tmp_path)
    assert not result.success and f"events_{DAY}_late.csv held 1 stored row(s)" in failure_message(result)
    assert stored(tmp_path) == [(DAY, "e1"), (DAY, "e2")]


def test_a_file_that_moved_from_landing_to_events_keeps_its_day(tmp_path):
    (tmp_path / "events").mkdir()
    landed = write_events(tmp_path / "landing", DAY, [view("e1")])
    assert ingest(tmp_path).success
    landed.rename(tmp_path / "events" / landed.name)
    assert ingest(tmp_path).success and stored(tmp_path) == [(DAY, "e1")]


@pytest.mark.parametrize(
    "grain, today, last",
    [("day", "2026-11-10", "2026-11-09"), ("week", "2026-11-10", "2026-11-10"), ("month", "2026-11-10", "2026-11-10")],
)
def test_the_last_log_date_that_can_be_ingested(grain, today, last):
    partitions = build_log_partitions(grain, dt.date(2026, 10, 1))
    assert last_log_date(partitions, dt.date.fromisoformat(today)) == dt.date.fromisoformat(last)
    assert last_log_date(build_log_partitions(grain, dt.date(2026, 10, 1), dt.date(2026, 10, 20))) < dt.date(
        2026, 10, 20
    )


def test_a_file_dated_ahead_waits_with_its_reason(tmp_path):
    far = write_events(tmp_path, "2099-01-01", [view("e1", day="2099-01-01")])
    write_events(tmp_path, DAY, [view("e2")])
    reason = not_ingested_reason(far, dt.date(2026, 10, 1), dt.date(2026, 11, 9))
    assert reason.startswith("log date 2099-01-01 is after 2026-11-09")
    assert [name for name, _ in files_not_ingested(tmp_path, dt.date(2026, 10, 1), dt.date(2026, 11, 9))] == [far.name]


def test_a_file_named_after_a_person_is_still_recognised_with_masking_on(tmp_path):
    from interest_pipeline.defs.resources import PrivacySettings

    write_events(tmp_path / "events", DAY, [view("e1")], name=f"events_{DAY}_jo@example.com.csv")
    masked = PrivacySettings(mask_contact_details=True)
    assert ingest(tmp_path, privacy=masked).success
    assert ingest(tmp_path, privacy=masked).success and stored(tmp_path) == [(DAY, "e1")]
