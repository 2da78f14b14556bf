"""Ingest runs that must not lose data silently: a missing folder, vanished files, rewritten
files, odd file names, an event id on two days, undocumented privacy switches."""

import csv
import datetime as dt
import os

import duckdb
import pytest
from dagster import materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_duckdb import DuckDBResource

from interest_pipeline.core.ingest.event_files import verify_unchanged
from interest_pipeline.core.ingest.event_schema import EventFileError
from interest_pipeline.core.ingest.validation import load_log_date
from interest_pipeline.defs.ingest.assets import raw_behavior_logs
from interest_pipeline.defs.resources import ALLOW_EMPTY_PARTITIONS_VARIABLE, EventSource, PrivacySettings

DAY, NEXT_DAY = "2026-10-05", "2026-10-06"
DAY_DATE = dt.date.fromisoformat(DAY)
COLUMNS = ["event_id", "user_id", "item_id", "event_type", "timestamp", "rating", "text"]


def write_events(folder, day, rows, name=None):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"events_{day}.csv")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def view(event_id, user="u1", item="i1", day=DAY):
    return [event_id, user, item, "view", f"{day}T10:00:00Z", "", ""]


def ingest(tmp_path, first=DAY, last=None, events_dir=None, allow_empty=False, privacy=None):
    resources = {
        "warehouse": DuckDBResource(database=str(tmp_path / "w.duckdb")),
        "event_source": EventSource(
            events_dir=str(events_dir or tmp_path / "events"),
            landing_dir=str(tmp_path / "landing"),
            allow_empty_partitions=allow_empty,
        ),
        "privacy": privacy or PrivacySettings(mask_contact_details=False),
    }
    if last is None:
        return materialize([raw_behavior_logs], resources=resources, partition_key=first, raise_on_error=False)
    tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
    return materialize([raw_behavior_logs], resources=resources, tags=tags, raise_on_error=False)


def stored(tmp_path, sql="SELECT log_date::VARCHAR, event_id FROM raw_behavior_logs ORDER BY 1, 2"):
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def failure_message(result) -> str:
    failure = next(e for e in result.all_events if e.is_step_failure or e.event_type_value == "RESOURCE_INIT_FAILURE")
    return str(failure.event_specific_data.error)


def test_a_mistyped_events_folder_fails_and_keeps_the_partitions(tmp_path):
    write_events(tmp_path / "events", DAY, [view("e1")])
    assert ingest(tmp_path).success
    result = ingest(tmp_path, events_dir=tmp_path / "evnets_typo")
    assert not result.success
    assert "evnets_typo does not exist" in failure_message(
        result
    ) and ALLOW_EMPTY_PARTITIONS_VARIABLE in failure_message(result)
    assert stored(tmp_path) == [(DAY, "e1")]
    # asked for explicitly, the partition is emptied
    assert ingest(tmp_path, events_dir=tmp_path / "evnets_typo", allow_empty=True).success
    assert stored(tmp_path) == []


def test_a_stored_partition_is_not_emptied_when_its_files_are_gone(tmp_path, monkeypatch):
    path = write_events(tmp_path / "events", DAY, [view("e1")])
    write_events(tmp_path / "events", NEXT_DAY, [view("e2", day=NEXT_DAY)])
    assert ingest(tmp_path, DAY, NEXT_DAY).success
    path.unlink()
    result = ingest(tmp_path, DAY, NEXT_DAY)
    assert not result.success and f"no event files for log date(s) {DAY}" in failure_message(result)
    assert stored(tmp_path) == [(DAY, "e1"), (NEXT_DAY, "e2")]
    monkeypatch.setenv(ALLOW_EMPTY_PARTITIONS_VARIABLE, "true")
    assert ingest(tmp_path, DAY, NEXT_DAY).success
    assert stored(tmp_path) == [(NEXT_DAY, "e2")]


def test_a_new_day_without_files_is_only_a_warning(tmp_path):
    write_events(tmp_path / "events", NEXT_DAY, [view("e2", day=NEXT_DAY)])
    result = ingest(tmp_path, DAY, NEXT_DAY)
    assert result.success
    assert stored(tmp_path) == [(NEXT_DAY, "e2")]


def test_a_file_rewritten_after_it_was_read_is_detected(tmp_path):
    path = write_events(tmp_path / "events", DAY, [view("e1"), view("e2")])
    result = load_log_date([path], DAY_DATE)
    verify_unchanged(result.fingerprints)  # nothing changed
    os.utime(path)  # touched, same content: still fine
    verify_unchanged(result.fingerprints)
    write_events(tmp_path / "events", DAY, [view("e1")])
    with pytest.raises(EventFileError, match="rewritten while the run was reading it"):
        verify_unchanged(result.fingerprints)
    path.unlink()
    with pytest.raises(EventFileError, match="removed after it was read"):
        verify_unchanged(result.fingerprints)


def test_files_in_progress_and_links_are_skipped_and_odd_names_reported(tmp_path):
    events = tmp_path / "events"
    write_events(events, DAY, [view("e1")])
    (events / f".events_{DAY}.csv").write_text("half written, no header\n")
    (events / f"events_{DAY}.csv.part").write_text("half written\n")
    (events / f"events_{DAY}.tmp").write_text("half written\n")
    (events / "events_2026-02-30.csv").write_text("x\n")
    (events / f"events_{DAY}.csv.gz").write_bytes(b"\x1f\x8b")
    (events / f"events_{DAY}.tsv").write_text("x\n")
    outside = tmp_path / "secret.txt"
    outside.write_text("user_id,event_type,timestamp\nsecret,view,x\n")
    (events / f"events_{DAY}-link.csv").symlink_to(outside)
    result = ingest(tmp_path)
    assert result.success
    assert stored(tmp_path) == [(DAY, "e1")]
    metadata = result.asset_materializations_for_node("raw_behavior_logs")[0].metadata
    listed = metadata["files_not_ingested"].value
    for name in ("events_2026-02-30.csv", f"events_{DAY}.csv.gz", f"events_{DAY}.tsv", f"events_{DAY}-link.csv"):
        assert name in listed
    assert "not a valid date" in listed and "unsupported file type" in listed and "symbolic link" in listed
    for name in (f".events_{DAY}.csv", ".part", ".tmp"):
        assert name not in listed


def test_an_event_id_on_two_days_is_rejected_on_the_later_day(tmp_path):
    write_events(tmp_path / "events", DAY, [view("e1"), view("e2")])
    write_events(tmp_path / "events", NEXT_DAY, [view("e1", item="i9", day=NEXT_DAY), view("e3", day=NEXT_DAY)])
    assert ingest(tmp_path, DAY, NEXT_DAY).success
    reason = f"event_id 'e1' is already used on log date {DAY}"
    expected_accepted = [(DAY, "e1"), (DAY, "e2"), (NEXT_DAY, "e3")]
    expected_rejected = [(NEXT_DAY, 2, reason)]
    assert stored(tmp_path) == expected_accepted
    assert stored(tmp_path, "SELECT log_date::VARCHAR, source_row, reason FROM rejected_events") == expected_rejected
    # the later day alone, again: the stored earlier day still holds the id, same result
    assert ingest(tmp_path, NEXT_DAY).success
    assert stored(tmp_path) == expected_accepted
    assert stored(tmp_path, "SELECT log_date::VARCHAR, source_row, reason FROM rejected_events") == expected_rejected


@pytest.mark.parametrize(
    "variables, problem",
    [
        ({"INTEREST_PIPELINE_PSEUDONYMISE": "y"}, "INTEREST_PIPELINE_PSEUDONYMISE='y' is not an on/off value"),
        (
            {"INTEREST_PIPELINE_PSEUDONYMISE": "enabled"},
            "INTEREST_PIPELINE_PSEUDONYMISE='enabled' is not an on/off value",
        ),
        ({"INTEREST_PIPELINE_PSEUDONYMISE": "2"}, "INTEREST_PIPELINE_PSEUDONYMISE='2' is not an on/off value"),
        (
            {"INTEREST_PIPELINE_MASK_CONTACT_DETAILS": "nah"},
            "INTEREST_PIPELINE_MASK_CONTACT_DETAILS='nah' is not an on/off value",
        ),
        (
            {"INTEREST_PIPELINE_PSEUDONYMISE": "TRUE", "INTEREST_PIPELINE_PSEUDONYM_KEY": " "},
            "INTEREST_PIPELINE_PSEUDONYM_KEY",
        ),
    ],
)
def test_an_unclear_privacy_switch_stops_the_run_before_anything_is_stored(tmp_path, monkeypatch, variables, problem):
    write_events(tmp_path / "events", DAY, [view("e1")])
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    result = ingest(tmp_path)
    assert not result.success and problem in failure_message(result)
    assert not (tmp_path / "w.duckdb").exists()
    with pytest.raises(ValueError, match=problem.split("=")[0]):
        PrivacySettings.from_environment()


def test_a_blank_configured_key_is_refused(tmp_path):
    write_events(tmp_path / "events", DAY, [view("e1")])
    result = ingest(tmp_path, privacy=PrivacySettings(pseudonymise_user_ids=True, pseudonym_key="   "))
    assert not result.success and "empty or only whitespace" in failure_message(result)


def test_an_events_folder_that_is_the_landing_folder_is_read_once(tmp_path):
    # what an import into the landing folder, named as the events folder, leads to
    write_events(tmp_path / "landing", DAY, [view("e1"), view("e2")])
    result = ingest(tmp_path, events_dir=tmp_path / "landing/")
    assert result.success, failure_message(result)
    assert stored(tmp_path) == [(DAY, "e1"), (DAY, "e2")]
    counts = result.asset_materializations_for_node("raw_behavior_logs")[0].metadata
    assert (counts["rows_read"].value, counts["rows_duplicate"].value) == (2, 0)
