"""With pseudonymisation and masking on, no raw user id and no contact detail of the input
reaches the warehouse or Dagster's own storage (runs, event log, compute logs), including the
quarantine, the reasons, the metadata previews and the error of a file that cannot be read."""

import json
from pathlib import Path

import duckdb
from dagster import DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_duckdb import DuckDBResource

from interest_pipeline.cli import DAGSTER_YAML
from interest_pipeline.core.ingest.privacy import pseudonym
from interest_pipeline.defs.ingest.assets import raw_behavior_logs
from interest_pipeline.defs.resources import EventSource, PrivacySettings

DAY, NEXT_DAY = "2026-10-05", "2026-10-06"
KEY = "scan-secret"
HEADER = "event_id,user_id,item_id,event_type,timestamp,device,location,rating,text\n"

RAW_IDS = [
    "alice.raw@example.com",
    "bob-raw-7781",
    "carol-raw-0042",
    "dave-raw-5150",
    "erin-raw-3141",
    "frank-raw-9911",
    "grace-raw-1234",
    "heidi-raw-5555",
    "ivan-raw-3003",
    "judy-raw-8080",
]
CONTACTS = [
    "mallory.raw@example.org",
    "dave%work@example.net",
    "eve\uff20example.com",
    "0170/1234567",
    "+44 20 7946 0958",
    "trent.raw@example.com",
    "peggy.raw@example.com",
]


def write_inputs(events: Path) -> None:
    events.mkdir(parents=True)
    csv_lines = [
        f"e1,{RAW_IDS[0]},i1,review,{DAY}T10:00:00Z,,,5,write {CONTACTS[0]} or call {CONTACTS[3]}",
        f"e2,{RAW_IDS[1]},i1,{CONTACTS[5]},{DAY}T10:00:00Z,,,,",  # unknown type: quoted in the reason
        f"e3,{RAW_IDS[2]},i1,view",  # ragged row: its fields cannot be told apart
        f'e4,{RAW_IDS[3]},i1,review,{DAY}T10:00:00Z,,,4,"unclosed {CONTACTS[1]}',  # unbalanced quote
        f"e5,{RAW_IDS[4]},i2,view,{DAY}T11:00:00Z,{CONTACTS[2]},,,",  # contact detail in device
    ]
    (events / f"events_{DAY}.csv").write_text(HEADER + "\n".join(csv_lines) + "\n", encoding="utf-8")
    jsonl_lines = [
        json.dumps(
            {
                "event_id": "j1",
                "user_id": RAW_IDS[5],
                "item_id": "i3",
                "event_type": "search",
                "timestamp": f"{DAY}T12:00:00Z",
                "text": f"phone {CONTACTS[4]}",
            }
        ),
        '{"event_id": "j2", "user_id": "' + RAW_IDS[6] + '", "event_type": "view"',  # not JSON
        '{"user_id": "' + RAW_IDS[7] + '", "user_id": "x", "event_type": "view"}',  # duplicate key
        '{"user_id" "' + RAW_IDS[8] + '"}',  # user_id without a resolvable value
        json.dumps(
            {
                "event_id": "j5",
                "user_id": RAW_IDS[9],
                "item_id": "i3",
                "event_type": "rate",
                "timestamp": f"{DAY}T12:00:00Z",
                "rating": f"mail {CONTACTS[6]}",
            }
        ),
    ]
    (events / f"events_{DAY}-app.jsonl").write_text("\n".join(jsonl_lines) + "\n", encoding="utf-8")


def strings_in_warehouse(path: Path) -> list[str]:
    """Every text value of every table (DuckDB compresses strings, so its bytes cannot be grepped)."""
    values = []
    with duckdb.connect(str(path), read_only=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"').fetchall():
                values.extend(str(v) for v in row if v is not None)
    return values


def files_under(folder: Path) -> dict[str, str]:
    return {str(p): p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file()}


def test_no_raw_id_or_contact_detail_reaches_any_store(tmp_path):
    events = tmp_path / "events"
    write_inputs(events)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML.read_text())
    resources = {
        "warehouse": DuckDBResource(database=str(tmp_path / "w.duckdb")),
        "event_source": EventSource(events_dir=str(events), landing_dir=str(tmp_path / "landing")),
        "privacy": PrivacySettings(pseudonymise_user_ids=True, pseudonym_key=KEY, mask_contact_details=True),
    }
    with DagsterInstance.from_config(str(home)) as instance:
        result = materialize(
            [raw_behavior_logs], resources=resources, partition_key=DAY, instance=instance, raise_on_error=False
        )
        assert result.success
        # a file without a header fails its run: the error must not quote its first row
        (events / f"events_{NEXT_DAY}.csv").write_text(f"x1,{RAW_IDS[0]},i1,view,{NEXT_DAY}T10:00:00Z,{CONTACTS[0]}\n")
        tags = {ASSET_PARTITION_RANGE_START_TAG: DAY, ASSET_PARTITION_RANGE_END_TAG: NEXT_DAY}
        failed = materialize(
            [raw_behavior_logs], resources=resources, tags=tags, instance=instance, raise_on_error=False
        )
        assert not failed.success

    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as conn:
        accepted = dict(conn.execute("SELECT event_id, user_id FROM raw_behavior_logs").fetchall())
        rejected = conn.execute(
            "SELECT source_row, reason FROM rejected_events ORDER BY source_file, source_row"
        ).fetchall()
    key = KEY.encode()
    # the scan below means something only if the rows got where they should
    assert accepted == {
        "e1": pseudonym(RAW_IDS[0], key),
        "e5": pseudonym(RAW_IDS[4], key),
        "j1": pseudonym(RAW_IDS[5], key),
    }
    assert len(rejected) == 7 and (3, "unknown event type '[email]'") in rejected

    stores = {"warehouse": "\n".join(strings_in_warehouse(tmp_path / "w.duckdb")), **files_under(home)}
    assert any("history" in name or "runs" in name for name in stores)  # run storage is among them
    secrets = RAW_IDS + CONTACTS + [c.replace("\uff20", "@") for c in CONTACTS]
    leaks = [(secret, name) for name, text in stores.items() for secret in secrets if secret in text]
    assert leaks == []
