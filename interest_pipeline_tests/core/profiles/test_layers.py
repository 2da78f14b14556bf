import datetime as dt

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.profiles.layers import LayerParams, TierRules, interest_layers

REF = dt.datetime(2026, 10, 31)
WEIGHTS = {"view": 1.0, "purchase": 5.0}


def interactions(rows):
    return pl.DataFrame(rows, schema=["user_id", "event_type", "event_ts", "topic_id", "subtopic_id"], orient="row")


def test_shares_sum_to_one_per_user_level_and_view():
    frame = interactions(
        [
            ("u1", "view", REF, "t0", "t0.s0"),
            ("u1", "purchase", REF, "t0", "t0.s1"),
            ("u1", "view", REF, "t1", "t1.s2"),
            ("u2", "view", REF, "t1", "t1.s2"),
        ]
    )
    layers = interest_layers(frame, LayerParams(event_weights=WEIGHTS))
    sums = layers.group_by("user_id", "level").agg(pl.col("share_long").sum(), pl.col("share_short").sum())
    assert sums["share_long"].to_list() == pytest.approx([1.0] * sums.height)
    assert sums["share_short"].to_list() == pytest.approx([1.0] * sums.height)
    u1_topics = layers.filter((pl.col("user_id") == "u1") & (pl.col("level") == "topic"))
    assert dict(zip(u1_topics["node_id"], u1_topics["share_long"])) == pytest.approx({"t0": 6 / 7, "t1": 1 / 7})
    assert set(layers.filter(pl.col("level") == "subtopic")["parent_id"]) <= {"t0", "t1"}
    assert set(layers.filter(pl.col("level") == "topic")["parent_id"]) == {"root"}


def test_tiers_follow_the_documented_rules():
    rows = [("u1", "view", REF, "t0", f"t0.s{i}") for i, n in enumerate([50, 30, 12, 5, 3]) for _ in range(n)]
    layers = interest_layers(
        interactions(rows),
        LayerParams(tiers=TierRules(core_min_share=0.25, secondary_min_share=0.08, max_core=3), event_weights=WEIGHTS),
    )
    sub = layers.filter(pl.col("level") == "subtopic").sort("rank_long")
    assert sub["share_long"].to_list() == pytest.approx([0.5, 0.3, 0.12, 0.05, 0.03])
    assert sub["tier_long"].to_list() == ["core", "core", "secondary", "peripheral", "peripheral"]
    assert sub["rank_long"].to_list() == [1, 2, 3, 4, 5]


def test_top_node_is_core_even_when_interests_are_spread():
    rows = [("u1", "view", REF, "t0", f"t0.s{i}") for i in range(10)]
    sub = interest_layers(interactions(rows), LayerParams(event_weights=WEIGHTS)).filter(pl.col("level") == "subtopic")
    assert (sub["tier_long"] == "core").sum() == 1
    assert (sub["tier_long"] == "secondary").sum() == 9  # 10% each


def test_short_term_view_sees_a_recent_drift_the_long_term_does_not():
    old = [("u1", "view", REF - dt.timedelta(days=25), "t0", "t0.s0")] * 20
    new = [("u1", "view", REF - dt.timedelta(days=1), "t1", "t1.s5")] * 6
    sub = interest_layers(
        interactions(old + new), LayerParams(long_half_life_days=90, short_half_life_days=3, event_weights=WEIGHTS)
    ).filter(pl.col("level") == "subtopic")
    by_node = {r["node_id"]: r for r in sub.iter_rows(named=True)}
    assert by_node["t0.s0"]["rank_long"] == 1 and by_node["t1.s5"]["rank_short"] == 1
    assert by_node["t1.s5"]["tier_short"] == "core"


def test_invalid_rules_are_refused():
    with pytest.raises(ValueError):
        TierRules(core_min_share=0.1, secondary_min_share=0.2)
    with pytest.raises(ValueError, match="half-lives"):
        LayerParams(long_half_life_days=0)
    with pytest.raises(ValueError, match="popular_fallback_nodes"):
        LayerParams(popular_fallback_nodes=0)


def test_drift_marks_emerging_and_fading_interests_and_scores_the_shift():
    old = [("u1", "view", REF - dt.timedelta(days=25), "t0", "t0.s0")] * 20
    new = [("u1", "view", REF - dt.timedelta(days=1), "t1", "t1.s5")] * 6
    steady = [("u2", "view", REF - dt.timedelta(days=d), "t0", "t0.s0") for d in range(20)]
    layers = interest_layers(
        interactions(old + new + steady),
        LayerParams(long_half_life_days=90, short_half_life_days=3, event_weights=WEIGHTS),
    )
    sub = {(r["user_id"], r["node_id"]): r for r in layers.filter(pl.col("level") == "subtopic").iter_rows(named=True)}
    assert sub[("u1", "t1.s5")]["trend"] == "emerging"
    assert sub[("u1", "t0.s0")]["trend"] == "fading"
    assert sub[("u2", "t0.s0")]["trend"] == "stable"
    assert sub[("u1", "t0.s0")]["drift_score"] > 0.5
    assert sub[("u2", "t0.s0")]["drift_score"] == pytest.approx(0.0)


def test_a_users_layers_are_measured_from_their_own_latest_event():
    """Layers of a user without new events stay as they were, whatever others do later (what lets
    the daily update leave them alone); shifting all of a user's events in time changes nothing."""
    params = LayerParams(long_half_life_days=30, short_half_life_days=3, event_weights=WEIGHTS)
    u1 = [("u1", "view", REF - dt.timedelta(days=d), "t0", f"t0.s{d % 3}") for d in range(0, 60, 4)]
    alone = interest_layers(interactions(u1), params)
    later_others = interest_layers(
        interactions(u1 + [("u2", "purchase", REF + dt.timedelta(days=400), "t1", "t1.s0")]), params
    )
    shifted = interest_layers(
        interactions([(u, e, ts + dt.timedelta(days=1000), t, s) for u, e, ts, t, s in u1]), params
    )
    columns = [
        "node_id",
        "weight_long",
        "weight_short",
        "share_long",
        "share_short",
        "tier_long",
        "tier_short",
        "trend",
    ]
    assert alone.select(columns).equals(later_others.filter(pl.col("user_id") == "u1").select(columns))
    assert alone.select(columns).equals(shifted.select(columns))
    assert (
        alone.filter(pl.col("level") == "subtopic")["weight_long"].max() > 1.0
    )  # the latest events count fully, not decayed to now


def test_layers_do_not_depend_on_the_row_order():
    """The daily update reads the interactions unordered: any order of the same rows gives the
    same table, bit for bit (sums, recency ranks at tied instants, ranks of tied shares)."""
    rng = np.random.default_rng(7)
    subtopics = rng.integers(12, size=3000)
    hours = rng.integers(0, 240, size=3000) * 6  # on a 6-hour grid: many events at one instant
    rows = [
        (f"u{u}", ["view", "purchase"][e], REF - dt.timedelta(hours=int(h)), f"t{s // 4}", f"t{s // 4}.s{s}")
        for u, e, h, s in zip(rng.integers(40, size=3000), rng.integers(2, size=3000), hours, subtopics)
    ]
    frame = interactions(rows)
    params = LayerParams(event_weights=WEIGHTS)
    expected = interest_layers(frame, params)
    assert expected.height > 100 and expected["rank_short"].max() > 1
    for seed in range(3):
        assert interest_layers(frame.sample(fraction=1.0, shuffle=True, seed=seed), params).equals(expected)
