"""The shipped ranker: collaborative scores re-weighted by the interest layers, its setting chosen on validation."""

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.evaluation import layered_collaborative as layered
from interest_pipeline.core.evaluation.blended_ranker import mean_ndcg
from interest_pipeline.core.evaluation.scoring_methods import Taxonomy

NO_SUBTOPIC = np.array([-1, -1, -1, -1])
NO_SHARES = np.zeros((2, 1))


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
    tuned = layered.tune_setting("ease", exact, noise, shares, subtopics, relevant, exclude, mean_ndcg)
    assert tuned.best == layered.LayeredParams() and tuned.validation_ndcg == pytest.approx(1.0)
    assert tuned.model == "ease" and len(tuned.scores) == len(layered.settings())
    # one that ranks it 4th: layers that know the relevant item earn a weight, and the nDCG rises
    fourth = rng.random((n_users, n_items))
    fourth[relevant] = np.sort(fourth, axis=1)[:, -4] + 1e-9
    plain = layered.tune_setting(
        "ease", fourth, noise, shares, subtopics, relevant, exclude, mean_ndcg, [layered.LayeredParams()]
    )
    knowing = np.where(relevant, 1.0, 0.0)
    helped = layered.tune_setting("ease", fourth, knowing, shares, subtopics, relevant, exclude, mean_ndcg)
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


def test_the_better_collaborative_model_on_validation_is_used():
    assert layered.better_model(0.20, 0.25) == "item_knn"
    assert layered.better_model(0.25, 0.20) == "ease"
    assert layered.better_model(float("nan"), float("nan")) == "ease"
