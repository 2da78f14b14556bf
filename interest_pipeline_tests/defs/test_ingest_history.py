"""A range of log dates in one run: each partition's own counts, one line for the days without
files, the same tables as one run per day, the rejection-rate check and catalogue coverage."""

import duckdb
from dagster import AssetCheckSeverity, DagsterInstance, materialize
from dagster_duckdb import DuckDBResource

from interest_pipeline.defs.ingest.assets import raw_behavior_logs
from interest_pipeline.defs.ingest.reporting import MAX_REJECTED_SHARE
from interest_pipeline.defs.resources import EventSource, PrivacySettings
from interest_pipeline_tests.helpers import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

HEADER = "event_id,user_id,item_id,event_type,timestamp,rating\n"
DAYS = ["2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05"]
FILES = {
    # catalogued items i1, i2; x1, x2 are not in the catalogue
    "2026-10-02": [
        "e1,u1,i1,view,2026-10-02T10:00:00Z,",
        "e2,u1,x1,view,2026-10-02T11:00:00Z,",
        "e3,u2,i2,rate,2026-10-02T12:00:00Z,4",
    ],
    # e1 again on a later date: the earliest date keeps it; a bad type is rejected
    "2026-10-05": [
        "e1,u1,i1,view,2026-10-05T10:00:00Z,",
        "e4,u2,x2,click,2026-10-05T09:00:00Z,",
        "e5,u3,i1,teleport,2026-10-05T09:00:00Z,",
    ],
}


def write_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for day, rows in FILES.items():
        (folder / f"events_{day}.csv").write_text(HEADER + "\n".join(rows) + "\n")


def resources(root):
    root.mkdir(parents=True, exist_ok=True)
    return {
        "warehouse": DuckDBResource(database=str(root / "w.duckdb")),
        "event_source": EventSource(events_dir=str(root.parent / "events"), landing_dir=str(root / "landing")),
        "privacy": PrivacySettings(mask_contact_details=False),
    }


def store_catalogue(root):
    root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(root / "w.duckdb")) as conn:
        conn.execute("CREATE TABLE item_catalog AS SELECT * FROM (VALUES ('i1'), ('i2')) t(item_id)")


def tables(root):
    with duckdb.connect(str(root / "w.duckdb"), read_only=True) as conn:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("raw_behavior_logs", "rejected_events")
        }


def test_a_range_in_one_run_reports_each_partition_and_stores_what_runs_per_day_store(tmp_path):
    write_files(tmp_path / "events")
    store_catalogue(tmp_path / "range")
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [raw_behavior_logs],
            resources=resources(tmp_path / "range"),
            instance=instance,
            tags={PARTITION_RANGE_START_TAG: DAYS[0], PARTITION_RANGE_END_TAG: DAYS[-1]},
        )
        messages = [e.message for e in instance.all_logs(result.run_id) if e.level >= 30]  # warnings and above
    assert result.success

    own = {
        m.partition: m.metadata
        for m in result.asset_materializations_for_node("raw_behavior_logs")
        if m.asset_key.path == ["raw_behavior_logs"]
    }
    assert sorted(own) == DAYS
    counts = {
        day: (
            m["rows_read"].value,
            m["dagster/row_count"].value,
            m["rows_rejected"].value,
            m["events_on_unknown_items"].value,
        )
        for day, m in own.items()
    }
    assert counts == {
        "2026-10-02": (3, 3, 0, 1),
        "2026-10-03": (0, 0, 0, 0),
        "2026-10-04": (0, 0, 0, 0),
        "2026-10-05": (3, 1, 2, 1),
    }
    assert all(m["run_rows_read"].value == 6 and m["run_partitions"].value == 4 for m in own.values())

    empty_day_lines = [m for m in messages if "no event files" in m]
    assert (
        len(empty_day_lines) == 1
        and "2 of 4 log dates" in empty_day_lines[0]
        and "2026-10-03, 2026-10-04" in empty_day_lines[0]
    )

    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "rejection_rate_within_bounds")
    # 2 of 3 rows of 2026-10-05 rejected: over the bound, a warning that names the partition
    assert not check.passed and check.severity == AssetCheckSeverity.WARN and 2 / 3 > MAX_REJECTED_SHARE
    assert (
        "2026-10-05" in check.metadata["partitions_over"].value
        and "2026-10-02" not in check.metadata["partitions_over"].value
    )

    stored = tables(tmp_path / "range")
    reasons = [row[-1] for row in stored["rejected_events"]]
    assert any("already used on log date 2026-10-02" in r for r in reasons) and any(
        "unknown event type" in r for r in reasons
    )

    # the same files, one run per day, give the same tables
    with DagsterInstance.ephemeral() as instance:
        for day in DAYS:
            assert materialize(
                [raw_behavior_logs], resources=resources(tmp_path / "daily"), instance=instance, partition_key=day
            ).success
    assert tables(tmp_path / "daily") == stored


def test_the_rejection_rate_check_passes_on_clean_partitions(tmp_path):
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "events_2026-10-02.csv").write_text(HEADER + "e1,u1,i1,view,2026-10-02T10:00:00Z,\n")
    result = materialize([raw_behavior_logs], resources=resources(tmp_path / "w"), partition_key="2026-10-02")
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "rejection_rate_within_bounds")
    assert check.passed
    metadata = result.asset_materializations_for_node("raw_behavior_logs")[0].metadata
    # without a stored catalogue nothing is counted as unknown, and the run says why
    assert "events_on_unknown_items" not in metadata and "not stored yet" in metadata["run_catalogue_coverage"].value
    assert len(tables(tmp_path / "w")["raw_behavior_logs"]) == 1
