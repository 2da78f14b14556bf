"""Impressions from simultaneous view / click events, and MIND-style per-impression metrics."""

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from interest_pipeline.core.evaluation.impressions import impression_metrics, impressions_from_events

T1, T2 = dt.datetime(2026, 10, 1, 9), dt.datetime(2026, 10, 1, 10)


def events(rows):
    return pl.DataFrame(
        rows,
        schema={"user_id": pl.String, "item_id": pl.String, "event_type": pl.String, "event_ts": pl.Datetime("us")},
        orient="row",
    )


def test_impressions_group_a_users_simultaneous_views_and_clicks():
    log = events(
        [
            ("u1", "a", "click", T1),
            ("u1", "b", "view", T1),
            ("u1", "c", "view", T1),
            ("u1", "b", "click", T1),  # b clicked too
            ("u1", "d", "view", T2),
            ("u1", "e", "view", T2),  # nothing clicked: left out
            ("u2", "a", "purchase", T1),
            ("u2", "f", "view", T1),
            ("u2", None, "search", T1),
            ("u3", "a", "click", T2),  # nothing only shown: left out
        ]
    )
    found = impressions_from_events(log, ["click", "purchase"])
    assert found.select("impression", "user_id", "item_id", "clicked").rows() == [
        (0, "u1", "a", True),
        (0, "u1", "b", True),
        (0, "u1", "c", False),
        (1, "u2", "a", True),
        (1, "u2", "f", False),
    ]


def test_metrics_worked_by_hand():
    candidates = pl.DataFrame(
        {
            "impression": [0, 0, 0, 1, 1, 1],
            "item_id": ["a", "b", "c", "x", "y", "z"],
            "clicked": [True, False, True, True, False, False],
        }
    )
    scores = [0.9, 0.5, 0.7, 0.2, 0.8, 0.2]
    result = impression_metrics(candidates, scores)
    # impression 0: clicked at ranks 1 and 2 -> AUC 1, MRR (1 + 1/2)/2, nDCG 1
    # impression 1: clicked x ties z, below y -> AUC (0 + 0.5)/2, rank 2 (ties by id) -> MRR 1/2, nDCG 1/log2(3)
    assert result["auc"] == pytest.approx((1 + 0.25) / 2)
    assert result["mrr"] == pytest.approx((0.75 + 0.5) / 2)
    assert result["ndcg@5"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert result["ndcg@10"] == pytest.approx(result["ndcg@5"])


def test_auc_agrees_with_scikit_learn_per_impression():
    rng = np.random.default_rng(0)
    sizes = rng.integers(3, 12, size=40)
    impression = np.repeat(np.arange(len(sizes)), sizes)
    clicked = rng.random(len(impression)) < 0.3
    for i in range(len(sizes)):  # every impression needs a click and a non-click
        rows = np.flatnonzero(impression == i)
        clicked[rows[0]], clicked[rows[1]] = True, False
    scores = np.round(rng.random(len(impression)), 1)  # rounded: ties happen
    candidates = pl.DataFrame(
        {"impression": impression, "item_id": [f"i{j:03d}" for j in range(len(impression))], "clicked": clicked}
    )
    expected = np.mean([roc_auc_score(clicked[impression == i], scores[impression == i]) for i in range(len(sizes))])
    assert impression_metrics(candidates, scores)["auc"] == pytest.approx(expected)


def test_no_impression_gives_nan():
    empty = pl.DataFrame(schema={"impression": pl.Int64, "item_id": pl.String, "clicked": pl.Boolean})
    assert all(math.isnan(v) for v in impression_metrics(empty, []).values())
