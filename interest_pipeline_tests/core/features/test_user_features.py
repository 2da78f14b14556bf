import datetime as dt

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.features.user_features import (
    activity_statistics,
    decay_from_latest,
    fuse_user_vectors,
    user_behavior_vectors,
    user_text_vectors,
)

REF = dt.datetime(2026, 10, 31)


@pytest.mark.parametrize(
    "age_days, half_life, expected",
    [(0, 7, 1.0), (7, 7, 0.5), (14, 7, 0.25), (30, 30, 0.5), (36_500, 7, 0.5 ** (36_500 / 7))],
)
def test_decay_halves_every_half_life_before_the_users_latest_event(age_days, half_life, expected):
    events = pl.Series([REF, REF - dt.timedelta(days=age_days), REF + dt.timedelta(days=900)])
    weights = decay_from_latest(events, pl.Series(["u1", "u1", "u2"]), half_life)
    assert (
        weights[1] == pytest.approx(expected) and weights[0] == 1.0 and weights[2] == 1.0
    )  # u2's later event does not age u1's


def test_decay_rejects_non_positive_half_life():
    with pytest.raises(ValueError):
        decay_from_latest(pl.Series([REF]), pl.Series(["u"]), 0)


def test_behavior_vector_is_the_weighted_decayed_mean_of_item_vectors():
    items = ["a", "b"]
    item_vectors = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    events = pl.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2"],
            "item_id": ["a", "b", "a", "zzz"],  # zzz has no embedding: ignored
            "event_type": ["purchase", "view", "view", "view"],
            "event_ts": [REF, REF - dt.timedelta(days=7), REF, REF],
        }
    )
    users, vectors = user_behavior_vectors(
        events, items, item_vectors, half_life_days=7, weights={"purchase": 6.0, "view": 1.0}
    )
    assert users == ["u1", "u2"]
    expected_u1 = np.array([6.0, 0.5]) / np.linalg.norm([6.0, 0.5])
    np.testing.assert_allclose(vectors[0], expected_u1, rtol=1e-5)
    np.testing.assert_allclose(vectors[1], [1.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)


def test_unknown_event_type_weight_is_an_error():
    events = pl.DataFrame({"user_id": ["u"], "item_id": ["a"], "event_type": ["teleport"], "event_ts": [REF]})
    with pytest.raises(ValueError, match="teleport"):
        user_behavior_vectors(events, ["a"], np.eye(2, dtype=np.float32)[:1], 7, {"view": 1.0})


def test_text_vector_is_decayed_mean_per_user():
    comments = pl.DataFrame({"user_id": ["u2", "u1", "u1"], "event_ts": [REF, REF, REF - dt.timedelta(days=10)]})
    vectors = np.array([[0, 1], [1, 0], [0, 1]], dtype=np.float32)
    users, out = user_text_vectors(comments, vectors, half_life_days=10)
    assert users == ["u1", "u2"]
    np.testing.assert_allclose(out[0], np.array([1.0, 0.5]) / np.linalg.norm([1.0, 0.5]), rtol=1e-5)
    np.testing.assert_allclose(out[1], [0.0, 1.0])


def test_fusion_weights_behavior_by_alpha_and_falls_back():
    x_u = np.array([[1, 0], [1, 0], [0, 0]], dtype=np.float32)
    x_t = np.array([[0, 1], [0, 0], [0, 1]], dtype=np.float32)
    fused = fuse_user_vectors(x_u, np.array([True, True, False]), x_t, np.array([True, False, True]), alpha=0.75)
    np.testing.assert_allclose(fused[0], np.array([0.75, 0.25]) / np.linalg.norm([0.75, 0.25]), rtol=1e-6)
    np.testing.assert_allclose(fused[1], [1, 0])  # no text: behaviour alone
    np.testing.assert_allclose(fused[2], [0, 1])  # no behaviour: text alone
    with pytest.raises(ValueError):
        fuse_user_vectors(x_u, np.ones(3, bool), x_t, np.ones(3, bool), alpha=1.5)


def test_activity_statistics_counts_types_days_and_recency():
    noon = REF + dt.timedelta(hours=12)
    events = pl.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2"],
            "event_type": ["view", "view", "purchase", "search"],
            "event_ts": [
                noon - dt.timedelta(days=2),
                noon - dt.timedelta(days=2, hours=1),
                noon - dt.timedelta(days=1),
                noon,
            ],
        }
    )
    stats = activity_statistics(events, noon).to_dicts()
    assert (
        stats[0]["user_id"] == "u1"
        and stats[0]["n_events"] == 3
        and stats[0]["n_view"] == 2
        and stats[0]["n_purchase"] == 1
    )
    assert stats[0]["active_days"] == 2 and stats[0]["recency_days"] == pytest.approx(1.0)
    assert stats[1]["n_search"] == 1 and stats[1]["n_view"] == 0 and stats[1]["recency_days"] == 0
