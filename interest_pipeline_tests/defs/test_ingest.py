"""Ingestion into a real DuckDB file: hostile text stored as given, privacy applied, bad files refused."""

import csv
import json

import duckdb
import pytest
from dagster import materialize
from dagster_duckdb import DuckDBResource

from interest_pipeline.core.ingest.privacy import pseudonym
from interest_pipeline.defs.ingest.assets import raw_behavior_logs
from interest_pipeline.defs.resources import EventSource, PrivacySettings

DAY = "2026-10-05"
HOSTILE = [
    "it's \"great\", isn't it?",
    "'; DROP TABLE raw_behavior_logs; --",
    "nul\x00byte inside",
    "\u202eright-to-left override\u202c and \u200fRLM",
    "emoji 👟🔥 and 中文评论 mixed with English",
    "tab\tand\nnewline",
]


def write_events(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"events_{DAY}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "user_id", "item_id", "event_type", "timestamp", "rating", "text"])
        writer.writerows(rows)
    return path


def ingest(tmp_path, privacy=None):
    resources = {
        "warehouse": DuckDBResource(database=str(tmp_path / "w.duckdb")),
        "event_source": EventSource(events_dir=str(tmp_path / "events"), landing_dir=str(tmp_path / "landing")),
        "privacy": privacy or PrivacySettings(mask_contact_details=False),
    }
    return materialize([raw_behavior_logs], resources=resources, partition_key=DAY, raise_on_error=False)


def test_hostile_text_is_stored_exactly_as_given(tmp_path):
    rows = [[f"e{i}", "u1", "i1", "review", f"{DAY}T10:00:00Z", "4", text] for i, text in enumerate(HOSTILE)]
    rows.append(["big", "u1", "i1", "review", f"{DAY}T10:00:00Z", "4", "x" * 1_000_000])
    write_events(tmp_path / "events", rows)
    assert ingest(tmp_path).success
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as conn:
        stored = dict(conn.execute("SELECT event_id, text FROM raw_behavior_logs").fetchall())
        rejected = conn.execute("SELECT source_row, reason FROM rejected_events").fetchall()
    assert stored == {f"e{i}": text for i, text in enumerate(HOSTILE)}
    # the file line of the big row: the header, one line per text, and one more for the text
    # that holds a newline
    assert rejected == [(len(HOSTILE) + 3, "text of 1000000 characters is over the limit of 10000")]


def test_pseudonyms_and_masking_reach_the_warehouse_and_quarantine(tmp_path):
    write_events(
        tmp_path / "events",
        [
            ["e1", "alice@example.com", "i1", "review", f"{DAY}T10:00:00Z", "5", "reach me on +44 20 7946 0958"],
            ["e2", "u2", "i1", "teleport", f"{DAY}T10:00:00Z", "", "mail bob@example.org"],
        ],
    )
    privacy = PrivacySettings(pseudonymise_user_ids=True, pseudonym_key="k", mask_contact_details=True)
    assert ingest(tmp_path, privacy).success
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as conn:
        accepted = conn.execute("SELECT user_id, text FROM raw_behavior_logs").fetchall()
        raw_rows = [json.loads(r) for (r,) in conn.execute("SELECT raw_row FROM rejected_events").fetchall()]
    assert accepted == [(pseudonym("alice@example.com", b"k"), "reach me on [phone]")]
    assert raw_rows[0]["user_id"] == pseudonym("u2", b"k") and raw_rows[0]["text"] == "mail [email]"


def test_pseudonymisation_without_a_key_refuses_to_run(tmp_path, monkeypatch):
    write_events(tmp_path / "events", [["e1", "u1", "i1", "view", f"{DAY}T10:00:00Z", "", ""]])
    result = ingest(tmp_path, PrivacySettings(pseudonymise_user_ids=True, pseudonym_key=""))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE")
    assert "INTEREST_PIPELINE_PSEUDONYM_KEY" in str(failure.event_specific_data.error)
    assert not (tmp_path / "w.duckdb").exists()  # the run stopped before anything was written

    from interest_pipeline import definitions

    monkeypatch.setenv("INTEREST_PIPELINE_PSEUDONYMISE", "true")
    monkeypatch.delenv("INTEREST_PIPELINE_PSEUDONYM_KEY", raising=False)
    with pytest.raises(ValueError, match="INTEREST_PIPELINE_PSEUDONYM_KEY"):
        definitions.build_resources()


def test_unreadable_file_fails_the_run_and_leaves_the_warehouse_as_it_was(tmp_path):
    write_events(tmp_path / "events", [["e1", "u1", "i1", "view", f"{DAY}T10:00:00Z", "", ""]])
    assert ingest(tmp_path).success
    (tmp_path / "events" / f"events_{DAY}-late.parquet").write_bytes(b"PAR1 truncated")
    result = ingest(tmp_path)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert f"events_{DAY}-late.parquet" in str(failure.event_specific_data.error)
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT event_id FROM raw_behavior_logs").fetchall() == [("e1",)]
