"""EASE^R and item-kNN: closed forms checked on small matrices, neighbours kept, tuning on validation."""

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from interest_pipeline.core.evaluation import collaborative
from interest_pipeline.core.evaluation.blended_ranker import mean_ndcg


def _matrix(rows):
    return sp.csr_matrix(np.array(rows, dtype=np.float32))


def test_ease_is_the_closed_form_with_a_zero_diagonal():
    x = _matrix([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1], [1, 0, 0, 1]])
    l2 = 2.0
    weights = collaborative.ease_weights(x, l2)
    dense = x.toarray().astype(np.float64)
    p = np.linalg.inv(dense.T @ dense + l2 * np.eye(4))
    expected = -p / np.diag(p)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(weights, expected, atol=1e-5)
    # the defining property: B minimises ||X - XB||² + λ||B||² with diag(B) = 0, so the
    # off-diagonal gradient vanishes
    gradient = dense.T @ (dense @ weights - dense) + l2 * weights
    np.fill_diagonal(gradient, 0.0)
    np.testing.assert_allclose(gradient, 0.0, atol=1e-4)


def test_ease_covers_the_most_interacted_items_only_beyond_its_cap():
    x = _matrix([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 1], [1, 1, 0, 0]])  # counts 4, 3, 1, 1
    weights = collaborative.ease_weights(x, 1.0, max_items=2)
    assert np.all(weights[2:] == 0) and np.all(weights[:, 2:] == 0) and weights[0, 1] != 0


def test_item_knn_keeps_the_most_similar_neighbours_by_cosine():
    x = _matrix([[1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 0, 1]])
    one = collaborative.knn_weights(x, 1).toarray()
    # item 0's columns: cos(0,1) = 2/sqrt(3*2) = 0.816 > cos(0,2) = 1/sqrt(3*2) = 0.408
    np.testing.assert_allclose(one[0], [0, 2 / np.sqrt(6), 0], atol=1e-6)
    assert (np.count_nonzero(one, axis=1) <= 1).all() and np.all(np.diag(one) == 0)
    both = collaborative.knn_weights(x, 2).toarray()
    np.testing.assert_allclose(both[0], [0, 2 / np.sqrt(6), 1 / np.sqrt(6)], atol=1e-6)
    # a user who had item 1 gets item 0 first
    scores = collaborative.knn_scores(_matrix([[0, 1, 0]]), collaborative.knn_weights(x, 2))
    assert np.argmax(scores[0]) == 0


def test_tuning_finds_a_setting_that_beats_chance_on_planted_co_occurrence():
    rng = np.random.default_rng(0)
    # two groups of items, users buy within one group: the other items of the group are relevant
    rows = []
    for user in range(120):
        group = user % 2
        items = rng.choice(np.arange(group * 10, group * 10 + 10), size=4, replace=False)
        rows += [(f"u{user}", f"i{i:02d}", "purchase") for i in items]
    events = pl.DataFrame(rows, schema=["user_id", "item_id", "event_type"], orient="row")
    fit = events.filter(pl.int_range(pl.len()).over("user_id") < 3)
    validation = events.filter(pl.int_range(pl.len()).over("user_id") == 3)
    item_ids = [f"i{i:02d}" for i in range(20)]
    tuning = collaborative.tune_on_validation(fit, validation, item_ids, ["purchase"], mean_ndcg)
    assert tuning.ease_l2 in collaborative.EASE_L2_GRID and tuning.knn_neighbours in collaborative.KNN_NEIGHBOURS_GRID
    # 7 candidates of the user's group among 17: chance nDCG@10 is far below these
    assert tuning.ease_validation_ndcg > 0.5 and tuning.knn_validation_ndcg > 0.5
    # the better model's validation scores come with the tuning, those of its chosen setting
    users = sorted(set(validation["user_id"].to_list()) & set(fit["user_id"].to_list()))
    fit_users = sorted(set(fit["user_id"].to_list()))
    interactions = collaborative.implicit_matrix(fit, fit_users, item_ids)
    weights = collaborative.model_weights(tuning.better_model, interactions, tuning)
    expected = collaborative.model_scores(
        tuning.better_model, interactions[[fit_users.index(u) for u in users]], weights
    )
    assert tuning.better_validation_scores is not None
    assert tuning.better_validation_scores == pytest.approx(expected)
