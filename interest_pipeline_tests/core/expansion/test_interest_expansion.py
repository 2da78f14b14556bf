import math
import shutil

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.expansion.interest_expansion import ExpansionWeights, expand_interests, subtopic_popularity

DIM = 6


def axis(*weights: float) -> list[float]:
    vector = np.zeros(DIM)
    vector[: len(weights)] = weights
    return vector.tolist()


def hierarchy(centroids: dict[str, list[float]]) -> pl.DataFrame:
    """Root, topics and the given subtopics (``t0.s1`` hangs under ``t0``), labelled ``label <id>``."""
    topics = sorted({s.split(".")[0] for s in centroids})
    rows = [("root", "root", None, "", axis())]
    rows += [(t, "topic", "root", f"topic {t}", axis()) for t in topics]
    rows += [(s, "subtopic", s.split(".")[0], f"label {s}", c) for s, c in centroids.items()]
    return pl.DataFrame(rows, schema=["node_id", "level", "parent_id", "label", "centroid"], orient="row").with_columns(
        pl.col("centroid").cast(pl.List(pl.Float32))
    )


def layers(rows: list[tuple[str, str, float, str]]) -> pl.DataFrame:
    """(user_id, subtopic_id, share_long, tier_long) rows, with the matching topic rows."""
    sub = pl.DataFrame(rows, schema=["user_id", "node_id", "share_long", "tier_long"], orient="row").with_columns(
        pl.lit("subtopic").alias("level"), pl.col("node_id").str.split(".").list.first().alias("parent_id")
    )
    topic = (
        sub.group_by("user_id", "parent_id")
        .agg(pl.col("share_long").sum())
        .select(
            "user_id",
            pl.col("parent_id").alias("node_id"),
            "share_long",
            pl.lit("core").alias("tier_long"),
            pl.lit("topic").alias("level"),
            pl.lit("root").alias("parent_id"),
        )
    )
    return pl.concat([sub, topic.select(sub.columns)])


def segments(assignment: dict[str, str]) -> pl.DataFrame:
    """user_id -> fine segment ``g0.f1`` (the coarse one is its prefix)."""
    return pl.DataFrame({"user_id": list(assignment), "segment_fine": list(assignment.values())}).with_columns(
        pl.col("segment_fine").str.split(".").list.first().alias("segment_coarse")
    )


def of(result: pl.DataFrame, user: str) -> pl.DataFrame:
    return result.filter(pl.col("user_id") == user).sort("rank")


def test_never_suggests_an_engaged_subtopic_whatever_its_tier():
    # Everyone else has t0.s1 and t0.s2 as core, and they are siblings of u1's core: they
    # would top u1's list were they not engaged (t0.s2 only peripherally).
    cents = {
        "t0.s0": axis(1),
        "t0.s1": axis(1, 0.1),
        "t0.s2": axis(1, 0, 0.1),
        "t1.s3": axis(0.5, 0, 0, 1),
        "t1.s4": axis(0.5, 0, 0, 0, 1),
    }
    rows = [("u1", "t0.s0", 0.7, "core"), ("u1", "t0.s1", 0.25, "secondary"), ("u1", "t0.s2", 0.05, "peripheral")]
    rows += [(f"p{i}", s, 0.5, "core") for i in range(6) for s in ("t0.s1", "t0.s2")]
    result = expand_interests(layers(rows), hierarchy(cents), top_n=10)
    mine = of(result, "u1")
    assert set(mine["subtopic_id"]) == {"t1.s3", "t1.s4"}
    engaged = (
        layers(rows).filter(pl.col("level") == "subtopic").select("user_id", pl.col("node_id").alias("subtopic_id"))
    )
    assert result.join(engaged, on=["user_id", "subtopic_id"], how="semi").height == 0


def test_siblings_of_a_core_interest_score_above_unrelated_subtopics():
    # Both candidates are equally similar to u1's profile (e0) and nobody else has them.
    cents = {
        "t0.s0": axis(1),
        "t0.s1": axis(1, 1),
        "t1.s2": axis(1, 0, 1),
        "t2.s3": axis(0, 0, 0, 1),
        "t2.s4": axis(1, 0, 0, 0, 1),
    }
    rows = [("u1", "t0.s0", 0.6, "core"), ("u1", "t2.s3", 0.4, "peripheral")]
    mine = of(expand_interests(layers(rows), hierarchy(cents), top_n=5), "u1")
    by_id = {r["subtopic_id"]: r for r in mine.iter_rows(named=True)}
    assert by_id["t0.s1"]["similarity_signal"] == pytest.approx(by_id["t1.s2"]["similarity_signal"])
    assert by_id["t0.s1"]["peer_signal"] == by_id["t1.s2"]["peer_signal"] == 0.0
    assert by_id["t0.s1"]["hierarchy_signal"] == pytest.approx(0.6)
    assert by_id["t1.s2"]["hierarchy_signal"] == 0.0
    assert by_id["t0.s1"]["score"] > by_id["t1.s2"]["score"]
    assert by_id["t0.s1"]["rank"] < by_id["t1.s2"]["rank"]
    # A peripheral interest makes no siblings.
    assert by_id["t2.s4"]["hierarchy_signal"] == 0.0


def test_hierarchy_signal_sums_the_shares_of_engaged_core_and_secondary_siblings():
    cents = {
        "t0.s0": axis(1),
        "t0.s1": axis(0, 1),
        "t0.s2": axis(0, 0, 1),
        "t1.s3": axis(0, 0, 0, 1),
        "t1.s4": axis(0, 0, 0, 0, 1),
    }
    rows = [("u1", "t0.s0", 0.5, "core"), ("u1", "t0.s1", 0.2, "secondary"), ("u1", "t1.s3", 0.3, "core")]
    mine = of(expand_interests(layers(rows), hierarchy(cents), weights=ExpansionWeights(0, 1, 0)), "u1")
    signals = dict(zip(mine["subtopic_id"], mine["hierarchy_signal"], strict=True))
    assert signals == pytest.approx({"t0.s2": 0.7, "t1.s4": 0.3})
    assert mine["subtopic_id"].to_list() == ["t0.s2", "t1.s4"]


def test_peer_signal_is_the_share_of_the_fine_segment_with_it_as_core_or_secondary():
    cents = {"t0.s0": axis(1), "t0.s1": axis(0, 1), "t1.s2": axis(0, 0, 1)}
    seg = {
        "u1": "g0.f1",
        "a": "g0.f1",
        "b": "g0.f1",
        "c": "g0.f1",
        "d": "g0.f1",
        "x": "g0.f2",
        "y": "g0.f2",
        "z": "g0.f2",
        "v": "g0.f2",
        "w": "g0.f2",
    }
    rows = [
        ("u1", "t0.s0", 1.0, "core"),
        ("a", "t1.s2", 1.0, "core"),
        ("b", "t1.s2", 0.1, "secondary"),
        ("c", "t1.s2", 0.9, "core"),
    ]
    rows += [("d", "t0.s0", 0.95, "core"), ("d", "t1.s2", 0.05, "peripheral")]  # peripheral: does not count
    rows += [(u, "t0.s1", 1.0, "core") for u in ("x", "y", "z", "v", "w")]  # another segment: does not count
    result = expand_interests(layers(rows), hierarchy(cents), segments(seg), weights=ExpansionWeights(1, 0, 0))
    mine = {r["subtopic_id"]: r for r in of(result, "u1").iter_rows(named=True)}
    assert mine["t1.s2"]["peer_signal"] == pytest.approx(3 / 5)
    assert "t0.s1" not in mine  # no peer has it, and only peers weigh here
    assert mine["t1.s2"]["reason"] == "60% of users in segment g0.f1 have it"


def test_peer_group_falls_back_to_the_coarse_segment_then_to_everyone():
    cents = {"t0.s0": axis(1), "t1.s1": axis(0, 1)}
    seg = {"u1": "g0.f1", "a": "g0.f1", "b": "g0.f2", "c": "g0.f2", "d": "g1.f3"}
    rows = [
        ("u1", "t0.s0", 1.0, "core"),
        ("a", "t1.s1", 1.0, "core"),
        ("b", "t1.s1", 1.0, "core"),
        ("c", "t0.s0", 1.0, "core"),
        ("d", "t1.s1", 1.0, "core"),
    ]
    only_peers = ExpansionWeights(1, 0, 0)
    coarse = of(
        expand_interests(layers(rows), hierarchy(cents), segments(seg), weights=only_peers, min_segment_size=3), "u1"
    )
    assert coarse["peer_signal"].to_list() == pytest.approx([2 / 4])  # g0: u1, a, b, c
    assert coarse["reason"].to_list() == ["50% of users in segment g0 have it"]
    everyone = of(
        expand_interests(layers(rows), hierarchy(cents), segments(seg), weights=only_peers, min_segment_size=5), "u1"
    )
    assert everyone["peer_signal"].to_list() == pytest.approx([3 / 5])
    assert everyone["reason"].to_list() == ["60% of all users have it"]


def test_similarity_prefers_the_centroid_nearer_the_share_weighted_profile():
    # u1 leans towards e0 (share 0.7) over e1 (0.3); the candidates mirror each other.
    cents = {"t0.s0": axis(1), "t1.s1": axis(0, 1), "t2.s2": axis(1, 0, 1), "t2.s3": axis(0, 1, 1)}
    rows = [("u1", "t0.s0", 0.7, "core"), ("u1", "t1.s1", 0.3, "core")]
    mine = of(expand_interests(layers(rows), hierarchy(cents), weights=ExpansionWeights(0, 0, 1)), "u1")
    assert mine["subtopic_id"].to_list() == ["t2.s2", "t2.s3"]
    profile = np.array([0.7, 0.3, 0]) / np.linalg.norm([0.7, 0.3])
    expected = [profile @ np.array([1, 0, 1]) / math.sqrt(2), profile @ np.array([0, 1, 1]) / math.sqrt(2)]
    assert mine["similarity_signal"].to_list() == pytest.approx(expected, abs=1e-6)


def test_keeps_the_top_n_per_user_ranked_from_one():
    cents = {f"t{t}.s{t}{k}": axis(*np.random.default_rng(t * 10 + k).random(DIM)) for t in range(3) for k in range(4)}
    rows = [("u1", "t0.s00", 0.6, "core"), ("u1", "t1.s10", 0.4, "secondary"), ("u2", "t2.s20", 1.0, "core")]
    rows += [(f"p{i}", s, 0.5, "core") for i, s in enumerate(sorted(cents))]
    result = expand_interests(layers(rows), hierarchy(cents), top_n=3)
    for user, frame in result.group_by("user_id"):
        assert frame.sort("rank")["rank"].to_list() == [1, 2, 3], user
        scores = frame.sort("rank")["score"].to_list()
        assert scores == sorted(scores, reverse=True)
        assert all(0 <= s <= 1 for s in scores)
    assert result["user_id"].n_unique() == 2 + len(cents)
    # Asking for more than there are candidates keeps every scored candidate.
    many = of(expand_interests(layers(rows), hierarchy(cents), top_n=50), "u1")
    assert many["rank"].to_list() == list(range(1, len(cents) - 1)) and many.height == len(cents) - 2
    with pytest.raises(ValueError):
        expand_interests(layers(rows), hierarchy(cents), top_n=0)


def test_ties_are_broken_by_subtopic_id_and_input_order_does_not_matter():
    # t1.s005 and t1.s002 are alike in every signal; they are listed in the reverse of id order.
    cents = {"t0.s001": axis(1), "t1.s005": axis(1, 1), "t1.s002": axis(1, 1), "t1.s009": axis(1, 1, 1)}
    rows = [
        ("u1", "t0.s001", 1.0, "core"),
        ("a", "t1.s005", 1.0, "core"),
        ("b", "t1.s002", 1.0, "core"),
        ("c", "t1.s009", 1.0, "core"),
    ]
    result = expand_interests(layers(rows), hierarchy(cents))
    mine = of(result, "u1")
    tied = mine.filter(pl.col("subtopic_id").is_in(["t1.s002", "t1.s005"]))
    assert tied["score"].n_unique() == 1
    assert tied["subtopic_id"].to_list() == ["t1.s002", "t1.s005"]
    assert tied["rank"].to_list() == [tied["rank"][0], tied["rank"][0] + 1]
    shuffled = expand_interests(
        layers(rows).sample(fraction=1.0, shuffle=True, seed=3),
        hierarchy(cents).sample(fraction=1.0, shuffle=True, seed=4),
    )
    assert shuffled.equals(result)
    assert expand_interests(layers(rows), hierarchy(cents), chunk_size=1).equals(result)


def test_users_without_layers_get_the_most_popular_subtopics():
    cents = {"t0.s0": axis(1), "t0.s1": axis(0, 1), "t1.s2": axis(0, 0, 1), "t1.s3": axis(0, 0, 0, 1)}
    rows = [
        ("a", "t0.s0", 0.6, "core"),
        ("a", "t1.s2", 0.4, "secondary"),
        ("b", "t1.s2", 0.9, "core"),
        ("b", "t0.s1", 0.1, "peripheral"),
        ("c", "t1.s2", 1.0, "core"),
    ]
    everyone = pl.DataFrame({"user_id": ["a", "b", "c", "new"]})
    result = expand_interests(layers(rows), hierarchy(cents), users=everyone, top_n=3)
    cold = of(result, "new")
    # Core or secondary only: t1.s2 for 3 of 4 users, t0.s0 for 1; t0.s1 is only peripheral.
    assert cold["subtopic_id"].to_list() == ["t1.s2", "t0.s0"]
    assert cold["score"].to_list() == pytest.approx([0.75, 0.25])
    assert cold["peer_signal"].to_list() == pytest.approx([0.75, 0.25])
    assert cold["reason"].to_list() == ["popular", "popular"]
    assert cold["strongest_signal"].to_list() == ["popular", "popular"]
    assert cold["is_cold_start_fallback"].all()
    assert not result.filter(pl.col("user_id") != "new")["is_cold_start_fallback"].any()
    assert subtopic_popularity(layers(rows), everyone)["popularity"].to_list() == pytest.approx([0.75, 0.25])


def test_reason_names_the_strongest_signal_first():
    cents = {"t0.s0": axis(1), "t0.s1": axis(0, 1), "t1.s2": axis(0, 0, 1), "t2.s3": axis(1, 0, 0, 0.05)}
    seg = dict.fromkeys(("u1", "a", "b", "c", "d"), "g0.f0")
    rows = [("u1", "t0.s0", 1.0, "core")] + [(u, "t1.s2", 1.0, "core") for u in ("a", "b", "c", "d")]
    result = of(expand_interests(layers(rows), hierarchy(cents), segments(seg)), "u1")
    by_id = {r["subtopic_id"]: r for r in result.iter_rows(named=True)}
    # Peers (4 of 5 have it), a sibling of the core interest, a near-copy of the core centroid.
    assert by_id["t1.s2"]["strongest_signal"] == "peers"
    assert by_id["t1.s2"]["reason"] == "80% of users in segment g0.f0 have it"
    assert by_id["t0.s1"]["strongest_signal"] == "hierarchy"
    assert by_id["t0.s1"]["reason"] == "sibling of your core interest t0.s0 'label t0.s0' in topic t0"
    assert by_id["t2.s3"]["strongest_signal"] == "similarity"
    assert by_id["t2.s3"]["reason"].startswith("close in content to your interests (similarity 1.0")
    # With similarity weighted close to the hierarchy, a sibling near the core centroid names both, strongest first.
    both = of(
        expand_interests(
            layers(rows),
            hierarchy({**cents, "t0.s1": axis(0.9, 0.1)}),
            segments(seg),
            weights=ExpansionWeights(0.4, 0.3, 0.35),
        ),
        "u1",
    )
    sibling = both.filter(pl.col("subtopic_id") == "t0.s1").row(0, named=True)
    assert sibling["strongest_signal"] == "similarity"
    assert sibling["reason"].split("; ")[0].startswith("close in content")
    assert sibling["reason"].split("; ")[1] == "sibling of your core interest t0.s0 'label t0.s0' in topic t0"


@pytest.mark.parametrize(
    "weights",
    [
        {"peers": -0.1, "hierarchy": 0.6, "similarity": 0.5},
        {"peers": 0.0, "hierarchy": 0.0, "similarity": 0.0, "model": 0.0},
        {"peers": float("nan"), "hierarchy": 1.0, "similarity": 1.0},
    ],
)
def test_invalid_weights_are_refused(weights):
    with pytest.raises(ValueError):
        ExpansionWeights(**weights)


def test_weights_from_config_refuse_unknown_names_and_normalise():
    with pytest.raises(ValueError, match="unknown"):
        ExpansionWeights.from_mapping({"peer": 1.0})
    with pytest.raises(ValueError):
        ExpansionWeights.from_mapping({"peers": 0.0})
    weights = ExpansionWeights.from_mapping({"peers": 2.0, "similarity": 2.0})
    assert weights.normalised() == pytest.approx({"peers": 0.5, "hierarchy": 0.0, "similarity": 0.5, "model": 0.0})


def test_materialized_asset_covers_every_user_with_fresh_ranked_suggestions(pipeline_run, tmp_path):
    import duckdb
    from dagster import materialize
    from dagster_duckdb import DuckDBResource

    from interest_pipeline.core.clustering.agreement import majority_mapping
    from interest_pipeline.defs.expansion.assets import interest_expansion as expansion_asset

    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, copy)
    result = materialize([expansion_asset], resources={"warehouse": DuckDBResource(database=str(copy))})
    assert result.success
    metadata = result.asset_materializations_for_node("interest_expansion")[0].metadata
    with duckdb.connect(str(copy), read_only=True) as conn:
        table = conn.execute("SELECT * FROM interest_expansion").pl()
        users = conn.execute("SELECT user_id FROM fused_user_features").pl()
        engaged = conn.execute(
            "SELECT user_id, node_id AS subtopic_id FROM user_interest_layers WHERE level = 'subtopic' AND source = 'activity'"
        ).pl()
        subtopics = conn.execute(
            "SELECT node_id AS subtopic_id, parent_id AS topic_id FROM interest_hierarchy WHERE level = 'subtopic'"
        ).pl()
        items = conn.execute(
            "SELECT content_id, subtopic_id FROM interest_topics WHERE content_kind = 'item' AND subtopic_id IS NOT NULL"
        ).pl()

    assert metadata["dagster/row_count"].value == table.height
    assert metadata["takeup_models"].value > 0  # the model signal is on by default and found subtopics to learn
    assert (
        table["model_signal"].is_between(0, 1).all()
        and table.filter(~pl.col("is_cold_start_fallback"))["takeup_probability"].is_not_null().any()
    )
    assert set(table.columns) >= {
        "user_id",
        "rank",
        "subtopic_id",
        "topic_id",
        "score",
        "hierarchy_signal",
        "peer_signal",
        "similarity_signal",
        "reason",
        "is_cold_start_fallback",
    }
    assert users.join(table, on="user_id", how="anti").height == 0
    assert table.join(engaged, on=["user_id", "subtopic_id"], how="semi").height == 0
    assert table.join(subtopics, on=["subtopic_id", "topic_id"], how="anti").height == 0
    ranks = table.group_by("user_id").agg(pl.col("rank").sort())
    assert all(r == list(range(1, len(r) + 1)) and len(r) <= 5 for r in ranks["rank"].to_list())
    assert table["score"].is_between(0, 1).all() and table["reason"].str.len_chars().min() > 0

    # How often suggestions land on a planted peripheral or emerging interest, against picking
    # uniformly among the same user's candidates (reported, not asserted: it depends on the clustering).
    truth_items = pl.read_csv(pipeline_run.sample_dir / "truth" / "items.csv").select(
        pl.col("item_id").alias("content_id"), pl.col("subtopic_id").alias("truth_id")
    )
    joined = items.join(truth_items, on="content_id")
    mapping = majority_mapping(joined["subtopic_id"], joined["truth_id"])
    planted = (
        pl.read_csv(pipeline_run.sample_dir / "truth" / "users.csv")
        .filter(pl.col("role").is_in(["peripheral", "emerging"]))
        .select("user_id", pl.col("subtopic_id").alias("truth_id"), pl.lit(True).alias("hit"))
        .unique(["user_id", "truth_id"])
    )

    def hits(frame: pl.DataFrame) -> pl.DataFrame:
        mapped = frame.with_columns(pl.col("subtopic_id").replace_strict(mapping, default=None).alias("truth_id"))
        return mapped.join(planted, on=["user_id", "truth_id"], how="left").with_columns(pl.col("hit").fill_null(False))

    candidates = hits(
        users.join(subtopics.select("subtopic_id"), how="cross").join(
            engaged, on=["user_id", "subtopic_id"], how="anti"
        )
    )
    random_precision = candidates.group_by("user_id").agg(pl.col("hit").mean())["hit"].mean()
    precision = hits(table)["hit"].mean()
    assert 0 <= random_precision <= 1 and 0 <= precision <= 1
    print(
        f"\ninterest_expansion hit rate on planted peripheral/emerging subtopics: {precision:.3f} vs random {random_precision:.3f}"
    )


def test_top_columns_match_a_stable_sort_with_ties_broken_by_the_lower_column():
    from interest_pipeline.core.expansion.interest_expansion import SCORE_DECIMALS, _top_columns

    rng = np.random.default_rng(3)
    score = np.round(rng.choice([-1.0, 0.0, 0.25, 0.5, 0.123456789, 0.9], size=(500, 40)), SCORE_DECIMALS)  # many ties
    for top_n in (1, 5, 40, 60):
        expected = np.argsort(-score, axis=1, kind="stable")[:, :top_n]
        np.testing.assert_array_equal(_top_columns(score, top_n), expected)
