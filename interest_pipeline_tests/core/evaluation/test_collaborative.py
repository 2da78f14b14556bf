"""EASE^R and item-kNN: closed forms checked on small matrices, neighbours kept, recency weights,
tuning on validation."""

import datetime as dt

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
        rows += [(f"u{user}", f"i{i:02d}", 0) for i in items]  # all at one time: no order to read
    events = _timed(rows)
    fit = events.filter(pl.int_range(pl.len()).over("user_id") < 3)
    validation = events.filter(pl.int_range(pl.len()).over("user_id") == 3)
    item_ids = [f"i{i:02d}" for i in range(20)]
    tuning = collaborative.tune_on_validation(fit, validation, item_ids, ["purchase"], mean_ndcg)
    assert tuning.ease_l2 in collaborative.EASE_L2_GRID and tuning.knn_neighbours in collaborative.KNN_NEIGHBOURS_GRID
    # 7 candidates of the user's group among 17: chance nDCG@10 is far below these
    assert tuning.ease_validation_ndcg > 0.5 and tuning.knn_validation_ndcg > 0.5
    # without an order in the events, reading histories by recency cannot help: the shipped
    # ranker's choice is the better baseline's (unweighted, the first half-life on a tie)
    assert tuning.recent is not None and tuning.recent.validation_ndcg == pytest.approx(
        max(tuning.ease_validation_ndcg, tuning.knn_validation_ndcg)
    )
    # its validation scores come with the tuning, those of its model, setting and half-life
    users = sorted(set(validation["user_id"].to_list()) & set(fit["user_id"].to_list()))
    fit_users = sorted(set(fit["user_id"].to_list()))
    interactions = collaborative.implicit_matrix(fit, fit_users, item_ids)
    choice = tuning.recent
    weights = collaborative.model_weights(choice.model, interactions, choice.setting)
    history = collaborative.recency_weighted_matrix(fit, users, item_ids, choice.recency_half_life)
    expected = collaborative.model_scores(choice.model, history, weights)
    assert tuning.recent_validation_scores is not None
    assert tuning.recent_validation_scores == pytest.approx(expected)


def _timed(rows):
    """(user, item, minute) rows as events at those minutes."""
    return pl.DataFrame(
        [(u, i, "purchase", dt.datetime(2026, 1, 1) + dt.timedelta(minutes=m)) for u, i, m in rows],
        schema=["user_id", "item_id", "event_type", "event_ts"],
        orient="row",
    )


def test_recency_weights_halve_every_half_life_in_the_users_own_items():
    events = _timed(
        [("u1", "a", 1), ("u1", "b", 5), ("u1", "a", 9), ("u1", "c", 7), ("u1", "d", 2), ("u2", "c", 1), ("u2", "d", 1)]
    )
    users, items = ["u1", "u2", "u3"], ["a", "b", "c", "d"]
    weighted = collaborative.recency_weighted_matrix(events, users, items, 2.0).toarray()
    # u1's items by their last event: a (minute 9), c (7), b (5), d (2) -> ranks 0, 1, 2, 3
    np.testing.assert_allclose(weighted[0], [1.0, 0.5**1.0, 0.5**0.5, 0.5**1.5], rtol=1e-6)
    # u2's two items share a minute: both are the latest; u3 has no events
    np.testing.assert_allclose(weighted[1], [0.0, 0.0, 1.0, 1.0], rtol=1e-6)
    assert not weighted[2].any()
    # a half-life of 0 reads every item alike, as the baselines do
    unweighted = collaborative.recency_weighted_matrix(events, users, items, 0.0).toarray()
    assert np.array_equal(unweighted, collaborative.implicit_matrix(events, users, items).toarray())
    with pytest.raises(ValueError, match="half_life"):
        collaborative.recency_weighted_matrix(events, users, items, -1.0)


def test_the_shipped_choice_reads_histories_by_recency_where_the_latest_items_predict_the_next():
    rng = np.random.default_rng(1)
    # four groups of five items; each user moves from an old group to a new one, and the next item
    # comes from the new group: the user's latest items point to it, the whole history half wrong
    rows = []
    for user in range(160):
        old, new = rng.choice(4, size=2, replace=False)
        picks = [*rng.choice(np.arange(old * 5, old * 5 + 5), 4, replace=False)]
        picks += [*rng.choice(np.arange(new * 5, new * 5 + 5), 3, replace=False)]
        rows += [(f"u{user:03d}", f"i{i:02d}", minute) for minute, i in enumerate(picks)]
    events = _timed(rows)
    fit = events.filter(pl.int_range(pl.len()).over("user_id") < 6)
    validation = events.filter(pl.int_range(pl.len()).over("user_id") == 6)
    item_ids = [f"i{i:02d}" for i in range(20)]
    tuning = collaborative.tune_on_validation(fit, validation, item_ids, ["purchase"], mean_ndcg)
    assert tuning.recent is not None and tuning.recent.recency_half_life > 0
    best_baseline = max(tuning.ease_validation_ndcg, tuning.knn_validation_ndcg)
    assert tuning.recent.validation_ndcg > best_baseline + 0.05
