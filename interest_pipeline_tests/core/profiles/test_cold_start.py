"""Popular-topic layers for users with nothing placed in the taxonomy."""

import datetime as dt

import polars as pl
import pytest

from interest_pipeline.core.profiles.cold_start import popular_layers
from interest_pipeline.core.profiles.layers import interest_layers

NOW = dt.datetime(2026, 10, 10)


def interactions(rows):
    return pl.DataFrame(
        [
            {
                "user_id": u,
                "event_type": "purchase",
                "event_ts": NOW - dt.timedelta(days=1),
                "topic_id": s[:3],
                "subtopic_id": s,
            }
            for u, s in rows
        ],
        schema={
            "user_id": pl.String,
            "event_type": pl.String,
            "event_ts": pl.Datetime("us"),
            "topic_id": pl.String,
            "subtopic_id": pl.String,
        },
    )


LAYERS = interest_layers(
    interactions(
        [
            ("a", "t00.s000"),
            ("b", "t00.s000"),
            ("b", "t00.s000"),
            ("b", "t01.s002"),
            ("c", "t01.s002"),
            ("c", "t00.s001"),
        ]
    )
)


def test_users_without_layers_get_the_most_popular_nodes_flagged_and_peripheral():
    fallback = popular_layers(LAYERS, ["a", "new"], top_n=1)
    assert fallback["user_id"].unique().to_list() == ["new"]  # "a" has layers of its own
    by_level = {row["level"]: row for row in fallback.iter_rows(named=True)}
    # t00.s000 is core for a and b; t00 core for a, b and c (ties broken by id)
    assert by_level["subtopic"]["node_id"] == "t00.s000" and by_level["subtopic"]["parent_id"] == "t00"
    assert by_level["topic"]["node_id"] == "t00"
    assert set(fallback["source"]) == {"popular"} and set(fallback["tier_long"]) == {"peripheral"}
    assert fallback["n_interactions"].sum() == 0 and fallback["share_long"].to_list() == [1.0, 1.0]


def test_fallback_rows_have_the_layers_columns_and_do_not_depend_on_the_users_order():
    fallback = popular_layers(LAYERS, ["a", "b", "c", "new"], top_n=2)
    assert set(LAYERS.columns) <= set(fallback.columns) and fallback["user_id"].unique().to_list() == ["new"]
    assert fallback.height == 4 and fallback.group_by("level").agg(pl.col("share_long").sum())[
        "share_long"
    ].to_list() == pytest.approx([1.0, 1.0])
    assert fallback.sort("level", "rank_long").equals(
        popular_layers(LAYERS, ["new", "c", "b", "a"], top_n=2).sort("level", "rank_long")
    )
