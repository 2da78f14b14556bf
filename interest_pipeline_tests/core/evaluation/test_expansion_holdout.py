"""Expansion precision on a hold-out, and its two baselines."""

import math

import polars as pl

from interest_pipeline.core.evaluation.expansion_holdout import (
    expansion_precision,
    popular_suggestions,
    random_suggestions,
    taken_up,
)


def layers(rows):
    """Subtopic layer rows (user_id, node_id, tier_long)."""
    return pl.DataFrame(
        [{"user_id": u, "level": "subtopic", "node_id": n, "share_long": 0.5, "tier_long": t} for u, n, t in rows],
        schema={
            "user_id": pl.String,
            "level": pl.String,
            "node_id": pl.String,
            "share_long": pl.Float64,
            "tier_long": pl.String,
        },
    )


SUBTOPICS = ["s1", "s2", "s3", "s4"]
TRAIN = layers(
    [
        ("a", "s1", "core"),
        ("b", "s1", "core"),
        ("b", "s2", "core"),
        ("c", "s1", "core"),
        ("c", "s2", "secondary"),
        ("c", "s3", "peripheral"),
    ]
)


def test_popular_suggestions_skip_what_the_user_already_has():
    suggested = popular_suggestions(TRAIN, SUBTOPICS, ["a", "c", "new"], top_n=2)
    by_user = {u: rows["subtopic_id"].to_list() for (u,), rows in suggested.group_by("user_id", maintain_order=True)}
    # s1 is core or secondary for 3 users, s2 for 2, s3 and s4 for none (ties by id)
    assert by_user == {"a": ["s2", "s3"], "c": ["s4"], "new": ["s1", "s2"]}


def test_random_suggestions_are_seeded_and_only_new_subtopics():
    first = random_suggestions(TRAIN, SUBTOPICS, ["a", "b"], top_n=2, seed=1)
    assert first.equals(random_suggestions(TRAIN, SUBTOPICS, ["b", "a"], top_n=2, seed=1))
    assert first.group_by("user_id").len()["len"].to_list() == [2, 2]
    assert (
        first.join(
            TRAIN.select("user_id", pl.col("node_id").alias("subtopic_id")), on=["user_id", "subtopic_id"], how="semi"
        ).height
        == 0
    )


def test_expansion_precision_averages_per_user():
    suggestions = pl.DataFrame({"user_id": ["a", "a", "b", "b"], "subtopic_id": ["s2", "s3", "s3", "s4"]})
    later = taken_up(pl.DataFrame({"user_id": ["a", "a", "b", "c"], "subtopic_id": ["s2", "s2", None, "s1"]}))
    precision, users = expansion_precision(suggestions, later)
    assert users == 2 and precision == 0.25  # a: 1 of 2, b: 0 of 2
    nothing, none = expansion_precision(suggestions.head(0), later)
    assert math.isnan(nothing) and none == 0
