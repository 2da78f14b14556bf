"""The peers signal as a stored table (kept on the re-clustering cadence), and scoring some users only."""

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.expansion.interest_expansion import ExpansionWeights, expand_interests, peer_share_table
from interest_pipeline_tests.core.expansion.test_interest_expansion import axis, hierarchy, layers, of, segments

CENTROIDS = {
    "t0.s0": axis(1),
    "t0.s1": axis(0, 1),
    "t1.s2": axis(0, 0, 1),
    "t1.s3": axis(0, 0, 0, 1),
    "t2.s4": axis(0.5, 0, 0, 0, 1),
}


def _population(seed: int = 0, n_users: int = 60) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, tuple]:
    """Users with random layers in three fine segments of two coarse ones (one fine segment small),
    a few users without layers, and take-up odds for everyone."""
    rng = np.random.default_rng(seed)
    subtopics = sorted(CENTROIDS)
    rows, assignment = [], {}
    for i in range(n_users):
        user = f"u{i:03d}"
        assignment[user] = ("g0.f0", "g0.f1", "g1.f2", "g1.f3")[0 if i < 25 else 1 if i < 28 else 2 if i < 50 else 3]
        if i % 11 == 10:
            continue  # no layers: the popular fallback
        picked = rng.choice(len(subtopics), size=rng.integers(1, 4), replace=False)
        shares = rng.dirichlet(np.ones(len(picked)))
        for j, share in zip(picked, shares):
            rows.append(
                (
                    user,
                    subtopics[j],
                    float(share),
                    "core" if share > 0.5 else "secondary" if share > 0.2 else "peripheral",
                )
            )
    users = pl.DataFrame({"user_id": sorted(assignment) + ["newcomer"]})
    odds = rng.uniform(0, 0.3, size=(users.height, len(subtopics)))
    return layers(rows), segments(assignment), users, (users["user_id"].to_list(), subtopics, odds)


@pytest.mark.parametrize("min_segment_size", [1, 5, 30])
def test_peer_shares_given_as_a_table_give_the_same_suggestions_as_computed_ones(min_segment_size):
    user_layers, user_segments, users, odds = _population()
    computed = expand_interests(
        user_layers, hierarchy(CENTROIDS), user_segments, users, min_segment_size=min_segment_size, takeup=odds
    )
    table = peer_share_table(user_layers, hierarchy(CENTROIDS), user_segments, users)
    given = expand_interests(
        user_layers,
        hierarchy(CENTROIDS),
        user_segments,
        users,
        min_segment_size=min_segment_size,
        takeup=odds,
        peer_shares=table,
    )
    assert given.equals(computed)
    # which group a user's peers are depends on min_segment_size: fine, coarse and all users all occur
    assert computed.filter(~pl.col("is_cold_start_fallback"))["peer_signal"].max() > 0
    assert {"fine:g0.f0", "fine:g0.f1", "coarse:g0", "coarse:g1", "all"} <= set(table["peer_group"])


def test_the_table_lists_each_groups_share_of_members_with_a_core_or_secondary_subtopic():
    rows = [
        ("a", "t0.s0", 1.0, "core"),
        ("b", "t0.s0", 0.3, "secondary"),
        ("c", "t0.s0", 0.1, "peripheral"),
        ("c", "t1.s2", 0.9, "core"),
    ]
    table = peer_share_table(layers(rows), hierarchy(CENTROIDS), segments({"a": "g0.f0", "b": "g0.f1", "c": "g0.f1"}))
    shares = {(r["peer_group"], r["subtopic_id"]): (r["members"], r["share"]) for r in table.iter_rows(named=True)}
    assert shares == {
        ("fine:g0.f0", "t0.s0"): (1, 1.0),
        ("fine:g0.f1", "t0.s0"): (2, 0.5),  # c has it only peripherally
        ("fine:g0.f1", "t1.s2"): (2, 0.5),
        ("coarse:g0", "t0.s0"): (3, pytest.approx(2 / 3)),
        ("coarse:g0", "t1.s2"): (3, pytest.approx(1 / 3)),
        ("all", "t0.s0"): (3, pytest.approx(2 / 3)),
        ("all", "t1.s2"): (3, pytest.approx(1 / 3)),
    }


def test_a_stored_table_is_used_as_given_not_recomputed_from_todays_layers():
    rows = [
        ("u1", "t0.s0", 1.0, "core"),
        ("a", "t1.s2", 1.0, "core"),
        ("b", "t1.s2", 1.0, "core"),
        ("c", "t1.s3", 1.0, "core"),
    ]
    seg = segments({"u1": "g0.f0", "a": "g0.f0", "b": "g0.f0", "c": "g0.f0"})
    # as of the last re-clustering only one of the four had t1.s2, and nobody t1.s3
    stored = pl.DataFrame({"peer_group": ["fine:g0.f0"], "subtopic_id": ["t1.s2"], "members": [4], "share": [0.25]})
    only_peers = ExpansionWeights(1, 0, 0)
    mine = of(
        expand_interests(
            layers(rows), hierarchy(CENTROIDS), seg, weights=only_peers, min_segment_size=1, peer_shares=stored
        ),
        "u1",
    )
    assert mine["subtopic_id"].to_list() == ["t1.s2"] and mine["peer_signal"].to_list() == [0.25]
    today = of(expand_interests(layers(rows), hierarchy(CENTROIDS), seg, weights=only_peers, min_segment_size=1), "u1")
    assert today["subtopic_id"].to_list() == ["t1.s2", "t1.s3"] and today["peer_signal"].to_list() == pytest.approx(
        [0.5, 0.25]
    )


def test_scoring_some_users_gives_their_rows_of_the_whole_result_and_every_users_fallback():
    user_layers, user_segments, users, odds = _population(seed=3)
    table = peer_share_table(user_layers, hierarchy(CENTROIDS), user_segments, users)
    everyone = expand_interests(user_layers, hierarchy(CENTROIDS), user_segments, users, takeup=odds, peer_shares=table)
    some = [
        "u001",
        "u010",
        "u026",
        "u044",
        "newcomer",
        "not a user",
    ]  # u010: no layers; newcomer: no layers, no segment
    ids, subtopic_ids, probabilities = odds
    rows = [ids.index(u) for u in some if u in ids]
    partial = expand_interests(
        user_layers,
        hierarchy(CENTROIDS),
        user_segments,
        users,
        takeup=([ids[i] for i in rows], subtopic_ids, probabilities[rows]),
        peer_shares=table,
        score_users=some,
    )
    expected = everyone.filter(pl.col("user_id").is_in(some) | pl.col("is_cold_start_fallback"))
    assert partial.equals(expected)
    assert set(partial.filter(~pl.col("is_cold_start_fallback"))["user_id"]) == {"u001", "u026", "u044"}
    assert (
        partial.filter(pl.col("is_cold_start_fallback"))["user_id"].n_unique()
        == everyone.filter(pl.col("is_cold_start_fallback"))["user_id"].n_unique()
        > 1
    )
