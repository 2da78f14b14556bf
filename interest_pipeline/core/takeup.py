"""Who takes up which subtopic next: one logistic regression per subtopic on the fused user features.

Training looks back one window: features are the fused user vectors (behaviour + text, as in
``fused_user_features``) built from events before ``split_ts``; a user is a positive for
subtopic s when they first interact with s in ``[split_ts, reference_ts)``, a negative when they
had no interaction with s at all; users who already had s before the split are left out of s's
model. Applied to today's fused features, a model gives the probability that a user takes s up
in the next window. Subtopics with fewer than ``min_positives`` first-time users get no model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from interest_pipeline.core.features import DEFAULT_EVENT_WEIGHTS, align_vectors, fuse_user_vectors, user_behavior_vectors, user_text_vectors


@dataclass(frozen=True)
class TakeupModels:
    subtopic_ids: list[str]  # subtopics with a model, rows of coef / intercept
    coef: np.ndarray  # subtopics x dimensions
    intercept: np.ndarray  # subtopics
    n_positives: np.ndarray  # training positives per subtopic
    n_train_users: int

    def predict(self, features: np.ndarray) -> np.ndarray:
        """users x subtopics (in ``subtopic_ids`` order) probabilities of taking the subtopic up."""
        if not self.subtopic_ids:
            return np.zeros((len(features), 0))
        logits = features.astype(np.float64) @ self.coef.T + self.intercept[None, :]
        return 1.0 / (1.0 + np.exp(-logits))


def fused_features(
    events: pl.DataFrame,
    comments: pl.DataFrame,
    comment_vectors: np.ndarray,
    item_ids: Sequence[str],
    item_vectors: np.ndarray,
    reference_ts: dt.datetime,
    half_life_days: float = 30.0,
    alpha: float = 0.6,
    weights: dict[str, float] = DEFAULT_EVENT_WEIGHTS,
) -> tuple[list[str], np.ndarray]:
    """Users (sorted) and their fused vectors from ``events`` and ``comments`` (user_id, event_ts; rows aligned with ``comment_vectors``)."""
    item_events = events.filter(pl.col("item_id").is_not_null()).select("user_id", "item_id", "event_type", "event_ts")
    behavior_users, behavior = user_behavior_vectors(item_events, list(item_ids), item_vectors, reference_ts, half_life_days, weights)
    text_users, text = user_text_vectors(comments, comment_vectors, reference_ts, half_life_days)
    users = sorted(set(behavior_users) | set(text_users))
    dim = item_vectors.shape[1]
    x_u, x_t = align_vectors(behavior_users, behavior, users, dim), align_vectors(text_users, text, users, dim)
    has_u, has_t = np.isin(users, behavior_users), np.isin(users, text_users)
    return users, fuse_user_vectors(x_u, has_u, x_t, has_t, alpha)


def first_takeups(interactions: pl.DataFrame, split_ts: dt.datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(user_id, subtopic_id) pairs seen before ``split_ts``, and those first seen at or after it."""
    pairs = interactions.filter(pl.col("subtopic_id").is_not_null()).group_by("user_id", "subtopic_id").agg(pl.col("event_ts").min().alias("_first"))
    split = pl.lit(split_ts, dtype=pairs.schema["_first"])
    before = pairs.filter(pl.col("_first") < split).select("user_id", "subtopic_id")
    after = pairs.filter(pl.col("_first") >= split).select("user_id", "subtopic_id")
    return before, after


def fit_takeup_models(
    user_ids: Sequence[str],
    features: np.ndarray,
    interactions: pl.DataFrame,
    split_ts: dt.datetime,
    subtopic_ids: Sequence[str],
    min_positives: int = 5,
    max_train_users: int = 20_000,
    regularisation: float = 1.0,
    seed: int = 0,
) -> TakeupModels:
    """One logistic regression per subtopic (rules in the module docstring).

    ``user_ids`` / ``features``: the fused vectors from events before ``split_ts``;
    ``interactions``: user_id, event_ts, subtopic_id over the whole window (before and after).
    At most ``max_train_users`` users (a seeded sample) train the models, to bound the cost.
    """
    from sklearn.linear_model import LogisticRegression

    before, after = first_takeups(interactions, split_ts)
    users = list(user_ids)
    if len(users) > max_train_users:
        keep = np.sort(np.random.default_rng(seed).choice(len(users), size=max_train_users, replace=False))
        users, features = [users[i] for i in keep], features[keep]
    row_of = {u: i for i, u in enumerate(users)}
    n = len(users)

    def rows_by_subtopic(pairs: pl.DataFrame) -> dict[str, np.ndarray]:
        known = pairs.filter(pl.col("user_id").is_in(users))
        return {
            s: np.array([row_of[u] for u in group["user_id"].to_list()], dtype=np.int64)
            for (s,), group in known.group_by("subtopic_id", maintain_order=True)
        }

    had, took = rows_by_subtopic(before), rows_by_subtopic(after)
    kept, coefs, intercepts, positives = [], [], [], []
    for subtopic in sorted(subtopic_ids):
        y = np.zeros(n, dtype=np.int8)
        y[took.get(subtopic, np.zeros(0, dtype=np.int64))] = 1
        eligible = np.ones(n, dtype=bool)
        eligible[had.get(subtopic, np.zeros(0, dtype=np.int64))] = False
        n_pos = int(y[eligible].sum())
        if n_pos < min_positives or n_pos == int(eligible.sum()):
            continue
        model = LogisticRegression(C=regularisation, max_iter=200)
        model.fit(features[eligible], y[eligible])
        kept.append(subtopic)
        coefs.append(model.coef_[0])
        intercepts.append(model.intercept_[0])
        positives.append(n_pos)
    dim = features.shape[1] if features.ndim == 2 else 0
    return TakeupModels(
        subtopic_ids=kept,
        coef=np.array(coefs, dtype=np.float64).reshape(len(kept), dim),
        intercept=np.array(intercepts, dtype=np.float64),
        n_positives=np.array(positives, dtype=np.int64),
        n_train_users=n,
    )


def takeup_probabilities(
    events: pl.DataFrame,
    comments: pl.DataFrame,
    comment_vectors: np.ndarray,
    item_ids: Sequence[str],
    item_vectors: np.ndarray,
    interactions: pl.DataFrame,
    reference_ts: dt.datetime,
    window_days: float,
    subtopic_ids: Sequence[str],
    half_life_days: float = 30.0,
    alpha: float = 0.6,
    min_positives: int = 5,
    max_train_users: int = 10_000,
    seed: int = 0,
) -> tuple[list[str], TakeupModels, np.ndarray]:
    """Fit on the window before ``reference_ts`` (features up to ``reference_ts - window_days``, take-ups
    after), then predict from features up to ``reference_ts``: users, the models, users x modelled subtopics.

    ``events``, ``comments`` (user_id, event_ts; rows aligned with ``comment_vectors``) and
    ``interactions`` (user_id, event_ts, subtopic_id) must not reach past ``reference_ts``.
    """
    if window_days <= 0:
        raise ValueError(f"window_days must be positive, got {window_days}")
    split = reference_ts - dt.timedelta(days=window_days)
    earlier = (comments["event_ts"] < split).to_numpy() if comments.height else np.zeros(0, dtype=bool)
    train_users, train_features = fused_features(
        events.filter(pl.col("event_ts") < pl.lit(split, dtype=events.schema["event_ts"])),
        comments.filter(pl.Series(earlier)) if comments.height else comments,
        comment_vectors[earlier] if comments.height else comment_vectors,
        item_ids, item_vectors, split, half_life_days, alpha,
    )
    models = fit_takeup_models(train_users, train_features, interactions, split, subtopic_ids, min_positives, max_train_users, seed=seed)
    users, features = fused_features(events, comments, comment_vectors, item_ids, item_vectors, reference_ts, half_life_days, alpha)
    return users, models, models.predict(features)
