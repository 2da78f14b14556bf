"""The catalogue coverage check and the layers check's causes, on the session's pipeline run."""

import duckdb
import polars as pl
from dagster import AssetCheckSeverity
from dagster_duckdb import DuckDBResource

from interest_pipeline.defs.profiles.checks import every_user_covered, uncovered_user_causes


def test_catalogue_coverage_check_counts_what_the_warehouse_holds(pipeline_run):
    check = next(
        c
        for c in pipeline_run.model_result.get_asset_check_evaluations()
        if c.check_name == "events_refer_to_catalogued_items"
    )
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        with_item, unknown = conn.execute(
            "SELECT count(item_id), count(item_id) FILTER (WHERE item_id NOT IN (SELECT item_id FROM item_catalog)) FROM raw_behavior_logs"
        ).fetchone()
    assert check.metadata["events_with_item"].value == with_item > 0
    assert check.metadata["events_on_unknown_items"].value == unknown
    assert check.severity == AssetCheckSeverity.WARN
    assert check.passed == (unknown / with_item <= 0.01)


def test_the_layers_table_says_why_a_user_has_the_popular_fallback(pipeline_run):
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        rows = conn.execute(
            "SELECT DISTINCT source, fallback_reason IS NULL, is_cold_start FROM user_interest_layers"
        ).fetchall()
    assert ("activity", True, False) in rows
    assert all((source == "activity") == no_reason for source, no_reason, _ in rows)


def test_uncovered_users_are_split_by_cause():
    uncovered = pl.DataFrame(
        {"user_id": ["a", "b", "c", "d"], "events_on_catalogued_items": [0, 3, 0, 0], "texts": [0, 0, 2, 0]}
    )
    causes = uncovered_user_causes(uncovered, pl.Series(["a", "z"]))
    assert causes == {
        "items_not_in_catalogue": ["a"],
        "catalogued_items_without_subtopic": ["b"],
        "only_texts_without_subtopic": ["c"],
        "unexplained": ["d"],
    }


def _warehouse(tmp_path, catalogue):
    """The tables the layers check reads: users a (cold start), b (only uncatalogued items), c (a catalogued item,
    nothing placed) and d (layers of their own)."""
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "CREATE TABLE fused_user_features AS SELECT * FROM (VALUES ('a', true), ('b', false), ('c', false), ('d', false)) t(user_id, is_cold_start)"
        )
        conn.execute(
            "CREATE TABLE raw_behavior_logs AS SELECT * FROM (VALUES ('a', 'i1', NULL), ('b', 'x1', NULL), ('b', 'x2', NULL),"
            " ('c', 'i1', NULL), ('d', 'i1', NULL)) t(user_id, item_id, text)"
        )
        conn.execute(f"CREATE TABLE item_catalog AS SELECT unnest({catalogue}) AS item_id")
        conn.execute(
            "CREATE TABLE user_interest_layers AS SELECT * FROM (VALUES ('a', 'topic', 1.0, 'popular'), ('b', 'topic', 1.0, 'popular'),"
            " ('c', 'topic', 1.0, 'popular'), ('d', 'topic', 1.0, 'activity')) t(user_id, level, share_long, source)"
        )
    return DuckDBResource(database=str(path))


def test_users_only_on_uncatalogued_items_are_a_warning_that_names_the_catalogue(tmp_path):
    result = every_user_covered(warehouse=_warehouse(tmp_path, ["i1"]))
    # c has a catalogued item but no layers of their own: an error, with its cause
    assert not result.passed and result.severity == AssetCheckSeverity.ERROR
    assert "1 users without layers of their own and not cold-start: events on catalogued items" in result.description
    assert "item_catalog" in result.description and result.metadata["users_items_not_in_catalogue"].value == 1


def test_a_catalogue_gap_alone_does_not_fail_at_error(tmp_path):
    # without c's catalogued item in the catalogue, c too has only uncatalogued items
    result = every_user_covered(warehouse=_warehouse(tmp_path, ["i9"]))
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert result.description.startswith(
        "2 users without layers of their own: every item event is on an item missing from item_catalog"
    )
