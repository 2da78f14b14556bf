"""Catalogue coverage of the events, and the fallback reason of users it leaves out."""

import datetime as dt

import duckdb
import polars as pl
import pytest

from interest_pipeline.core.ingest.catalogue_coverage import (
    COLD_START,
    ITEMS_NOT_IN_CATALOGUE,
    MAX_UNKNOWN_ITEM_SHARE,
    NOTHING_PLACED,
    catalogue_coverage,
    unknown_items_per_date,
    with_fallback_reason,
)
from interest_pipeline.defs.warehouse import users_only_on_uncatalogued_items

CATALOGUE = pl.Series(["i1", "i2"])
D1, D2 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)


def test_coverage_counts_events_with_an_item_and_names_the_most_frequent_unknown_items():
    items = pl.Series(["i1", "x9", "x2", "x2", None, "i2", "x2", "x9", "x1"])
    coverage = catalogue_coverage(items, CATALOGUE, n_examples=2)
    assert (coverage.events_with_item, coverage.events_on_unknown_items, coverage.distinct_unknown_items) == (8, 6, 3)
    assert coverage.examples == ["x2", "x9"]  # by frequency, then id
    assert coverage.unknown_share == pytest.approx(6 / 8) and not coverage.passed
    assert coverage.message().startswith(
        "75.0% of events refer to items not in the catalogue"
    ) and coverage.message().endswith("e.g. x2, x9")


def test_full_coverage_passes_and_says_so():
    coverage = catalogue_coverage(pl.Series(["i1", None, "i2"]), CATALOGUE)
    assert (
        coverage.passed and coverage.events_on_unknown_items == 0 and "every one of the 2 events" in coverage.message()
    )
    assert catalogue_coverage(pl.Series(["i1"] * 200 + ["x"]), CATALOGUE).passed == (1 / 201 <= MAX_UNKNOWN_ITEM_SHARE)


def test_unknown_items_are_counted_per_log_date():
    events = pl.DataFrame({"log_date": [D1, D1, D2, D2, D2], "item_id": ["i1", "x1", None, "x1", "x2"]})
    assert unknown_items_per_date(events, CATALOGUE).rows() == [(D1, 2, 1), (D2, 2, 2)]


def test_users_only_on_unknown_items_have_their_own_fallback_reason(tmp_path):
    events = pl.DataFrame({"user_id": ["a", "a", "b", "b", "c", "d"], "item_id": ["x1", "x2", "x1", "i1", None, "x3"]})
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        conn.register("events", events)
        conn.execute("CREATE TABLE raw_behavior_logs AS SELECT * FROM events")
        conn.execute("CREATE TABLE item_catalog AS SELECT unnest(?) AS item_id", [CATALOGUE.to_list()])
        only_unknown = users_only_on_uncatalogued_items(conn)
    assert only_unknown.to_list() == ["a", "d"]  # b has a catalogued item, c no item event at all
    layers = pl.DataFrame(
        {
            "user_id": ["a", "b", "c", "d", "e"],
            "source": ["popular", "popular", "popular", "popular", "activity"],
            "is_cold_start": [False, False, False, True, False],
        }
    )
    reasons = dict(with_fallback_reason(layers, only_unknown).select("user_id", "fallback_reason").iter_rows())
    assert reasons == {
        "a": ITEMS_NOT_IN_CATALOGUE,
        "b": NOTHING_PLACED,
        "c": NOTHING_PLACED,
        "d": COLD_START,
        "e": None,
    }
