"""The shipped ranker: collaborative scores re-weighted by the interest layers, its setting chosen on validation."""

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.evaluation import layered_collaborative as layered
from interest_pipeline.core.evaluation.blended_ranker import mean_ndcg
from interest_pipeline.core.evaluation.collaborative import CollaborativeChoice, CollaborativeTuning
from interest_pipeline.core.evaluation.scoring_methods import Taxonomy

NO_SUBTOPIC = np.array([-1, -1, -1, -1])
NO_SHARES = np.zeros((2, 1))
EASE = CollaborativeChoice("ease", 100.0)


def test_rows_are_scaled_to_the_unit_interval_and_flat_rows_have_no_part():
    scaled, varies = layered.scale_rows(np.array([[-1.0, 0.0, 3.0], [2.0, 2.0, 2.0]]))
    assert scaled.tolist() == [[0.0, 0.25, 1.0], [0.0, 0.0, 0.0]]
    assert varies.tolist() == [True, False]


def test_without_layer_weight_the_collaborative_order_stands_and_users_without_it_get_the_layers():
    collaborative = np.array([[0.9, 0.1, 0.5, -0.2], [0.0, 0.0, 0.0, 0.0]])
    layers = np.array([[0.0, 1.0, 0.2, 0.9], [0.1, 0.4, 0.3, 0.2]])
    plain = layered.mix(collaborative, layers, NO_SHARES, NO_SUBTOPIC, layered.LayeredParams())
    assert np.argsort(-plain[0]).tolist() == [0, 2, 1, 3]
    # the second user has no collaborative signal (a cold start): the layer ranker, i.e. its fallback
    assert plain[1].tolist() == layers[1].tolist()
    # half and half: item 1, first by the layers and last but one by the collaborative model, moves up
    half = layered.mix(collaborative, layers, NO_SHARES, NO_SUBTOPIC, layered.LayeredParams(layer_weight=0.5))
    assert half[0].tolist() == pytest.approx([0.5, 0.5 * (0.3 / 1.1) + 0.5, 0.5 * (0.7 / 1.1) + 0.1, 0.45])


def test_the_interest_boost_lifts_items_of_the_users_larger_interests():
    # items 0 and 1 tie on the collaborative score; the user holds 80% of subtopic 1 and 20% of subtopic 0
    collaborative = np.array([[1.0, 1.0, 0.0]])
    shares = np.array([[0.2, 0.8]])
    item_subtopic = np.array([0, 1, -1])
    boosted = layered.mix(
        collaborative, np.zeros((1, 3)), shares, item_subtopic, layered.LayeredParams(interest_boost=3.0)
    )
    assert boosted[0].tolist() == pytest.approx([(1 + 3 * 0.2) / 4, (1 + 3 * 0.8) / 4, 0.0])


def test_the_validation_slice_keeps_the_plain_model_unless_the_layers_help():
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 12
    relevant = np.zeros((n_users, n_items), dtype=bool)
    relevant[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    exclude = np.zeros_like(relevant)
    shares = np.zeros((n_users, 1))
    subtopics = np.full(n_items, -1)
    # a collaborative model that ranks the relevant item first: layers of noise can only hurt it
    exact = rng.random((n_users, n_items)) + np.where(relevant, 1.0, 0.0)
    noise = rng.random((n_users, n_items))
    tuned = layered.tune_setting(EASE, exact, noise, shares, subtopics, relevant, exclude, mean_ndcg)
    assert (tuned.best.layer_weight, tuned.best.interest_boost) == (0.0, 0.0)
    assert tuned.validation_ndcg == pytest.approx(1.0) and tuned.model == "ease"
    assert len(tuned.scores) == len(layered.settings()) + len(layered.SUBTOPIC_DECAYS) - 1
    # one that ranks it 4th: layers that know the relevant item earn a weight, and the nDCG rises
    fourth = rng.random((n_users, n_items))
    fourth[relevant] = np.sort(fourth, axis=1)[:, -4] + 1e-9
    plain = layered.tune_setting(
        EASE, fourth, noise, shares, subtopics, relevant, exclude, mean_ndcg, [layered.LayeredParams()], decays=(1.0,)
    )
    knowing = np.where(relevant, 1.0, 0.0)
    helped = layered.tune_setting(EASE, fourth, knowing, shares, subtopics, relevant, exclude, mean_ndcg)
    assert helped.best.layer_weight > 0 and helped.validation_ndcg > plain.validation_ndcg


def test_items_map_to_the_share_matrices_subtopic_columns():
    taxonomy = Taxonomy(
        pl.DataFrame(
            {
                "content_id": ["a", "b", "c", "r1"],
                "content_kind": ["item", "item", "item", "comment"],
                "topic_id": ["t0", "t0", None, "t0"],
                "subtopic_id": ["t0.s1", "t0.s0", None, "t0.s0"],
            }
        ),
        pl.DataFrame(
            {
                "node_id": ["t0", "t0.s0", "t0.s1"],
                "level": ["topic", "subtopic", "subtopic"],
                "parent_id": [None, "t0", "t0"],
                "label": ["x", "y", "z"],
                "centroid": [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
            }
        ),
    )
    assert layered.subtopic_columns(taxonomy, ["b", "a", "c", "unknown"]).tolist() == [0, 1, -1, -1]


def test_the_recency_aware_choice_is_used_and_otherwise_the_better_baseline():
    def tuning(ease: float, knn: float, recent: CollaborativeChoice | None = None) -> CollaborativeTuning:
        return CollaborativeTuning(100.0, 10, ease, knn, recent)

    assert tuning(0.20, 0.25).shipped_choice == CollaborativeChoice("item_knn", 10, 0.0, 0.25)
    assert tuning(0.25, 0.20).shipped_choice == CollaborativeChoice("ease", 100.0, 0.0, 0.25)
    assert tuning(float("nan"), float("nan")).shipped_choice.model == "ease"
    recent = CollaborativeChoice("ease", 2000.0, 3.0, 0.3)
    assert tuning(0.25, 0.20, recent).shipped_choice == recent


def test_ranks_count_the_earlier_items_of_the_same_subtopic():
    ordered = np.array([[3, 3, 1, 3, -1, 1, -1], [0, 1, 2, 0, 0, 1, 2]])
    assert layered.ranks_within_subtopic(ordered).tolist() == [[0, 1, 0, 2, 0, 1, 0], [0, 0, 0, 1, 2, 1, 1]]


def test_the_subtopic_decay_lets_a_second_interest_in_before_a_third_item_of_the_first():
    # items 0-2 in subtopic 0, item 3 in subtopic 1, item 4 seen before, item 5 without a subtopic
    scores = np.array([[0.9, 0.85, 0.8, 0.7, 1.0, 0.1]])
    seen = np.array([[False, False, False, False, True, False]])
    item_subtopic = np.array([0, 0, 0, 1, 0, -1])
    assert np.array_equal(layered.spread_over_interests(scores, seen, item_subtopic, 1.0), scores)
    spread = layered.spread_over_interests(scores, seen, item_subtopic, 0.8)
    # subtopic 0: 0.9, 0.85 * 0.8 = 0.68, 0.8 * 0.64 = 0.512; subtopic 1: 0.7; no subtopic: 0.1 as it is
    order = [int(i) for i in np.argsort(-np.where(seen, -np.inf, spread))[0][:5]]
    assert order == [0, 3, 1, 2, 5]
    assert spread[0, 4] == 1.0  # a seen item keeps its score: the ranking leaves it out anyway
    assert spread[0, [0, 3, 1, 2, 5]] == pytest.approx([1.9, 1.7, 1.68, 1.512, 1.1])


def test_a_decay_is_kept_only_within_the_tolerance_of_the_best_validation_ndcg():
    # items 0-2 in subtopic 0 and item 3 in subtopic 1; the collaborative order is 0, 1, 3, 2 (scaled
    # 1, 0.9, 0.85, 0), and a decay of 0.9 or below puts item 3 second (0.9 * 0.9 = 0.81 < 0.85),
    # 0.95 does not (0.855)
    collaborative = np.array([[1.0, 0.9, 0.0, 0.85], [1.0, 0.9, 0.0, 0.85]])
    item_subtopic = np.array([0, 0, 0, 1])
    exclude = np.zeros((2, 4), dtype=bool)
    shares, layers, plain = np.zeros((2, 2)), np.zeros((2, 4)), [layered.LayeredParams()]

    def tuned(relevant):
        return layered.tune_setting(
            EASE, collaborative, layers, shares, item_subtopic, relevant, exclude, mean_ndcg, plain, k=2
        )

    # held-out items in both subtopics: spreading raises nDCG@2 to 1; the strongest decay is kept
    spread = tuned(np.array([[True, False, False, True]] * 2))
    assert spread.best.subtopic_decay == min(layered.SUBTOPIC_DECAYS) and spread.validation_ndcg == pytest.approx(1.0)
    # held-out items of the first subtopic only: 0.9 and below cost nDCG@2; 0.95 changes nothing
    first = tuned(np.array([[True, True, False, False]] * 2))
    assert first.best.subtopic_decay == 0.95 and first.validation_ndcg == pytest.approx(1.0)


def test_a_decay_needs_the_seen_items_and_leaves_users_without_collaborative_scores_alone():
    collaborative = np.array([[0.9, 0.8, 0.1], [0.0, 0.0, 0.0]])
    layers = np.array([[0.0, 0.0, 0.0], [0.5, 0.4, 0.3]])
    item_subtopic = np.array([0, 0, -1])
    params = layered.LayeredParams(subtopic_decay=0.5)
    with pytest.raises(ValueError, match="seen items"):
        layered.mix(collaborative, layers, np.zeros((2, 1)), item_subtopic, params)
    mixed = layered.mix(collaborative, layers, np.zeros((2, 1)), item_subtopic, params, np.zeros((2, 3), dtype=bool))
    assert mixed[1].tolist() == layers[1].tolist()  # the popular fallback, not spread
    # 0.9 and 0.8 * 0.5 = 0.4 for subtopic 0 against (0.1 - 0.1) / 0.8 = 0 for the last: order kept
    assert np.argsort(-mixed[0]).tolist() == [0, 1, 2]
