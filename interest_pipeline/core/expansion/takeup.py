"""Who takes up which subtopic next: one logistic regression per subtopic on the fused user features.

Training looks back one window: features are the fused user vectors (behaviour + text, as in
``fused_user_features``) built from events before ``split_ts``; a user is a positive for
subtopic s when they first interact with s in ``[split_ts, reference_ts)``, a negative when they
had no interaction with s at all; users who already had s before the split are left out of s's
model. Applied to today's fused features, a model gives the probability that a user takes s up
in the next window. Subtopics with fewer than ``min_positives`` first-time users get no model.

Sparse logs (a few events per user over months) often have no subtopic with ``min_positives``
first-time users in a week, so no model at all and a model signal of 0 everywhere: the window
then doubles, up to ``max_window_days``, until at least one subtopic gets a model
(``Takeup.window_days`` is the window used).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from interest_pipeline.core.features.user_features import UserFeatureParams, UserHistory, fused_vectors


@dataclass(frozen=True)
class TakeupParams:
    """The training window and the limits of the take-up models."""

    window_days: float = 7.0  # who first engaged with a subtopic in the last this many days
    max_window_days: float = 56.0  # the window doubles up to this when no subtopic gets a model
    min_positives: int = 5  # a subtopic needs this many first-time users in the window for a model
    max_train_users: int = 10_000  # a seeded sample of at most this many users trains each model
    regularisation: float = 1.0  # inverse L2 strength (scikit-learn's C)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.window_days <= 0:
            raise ValueError(f"window_days must be positive, got {self.window_days}")
        if self.max_window_days < self.window_days:
            raise ValueError(
                f"max_window_days ({self.max_window_days}) must be at least window_days ({self.window_days})"
            )
        if self.min_positives < 1 or self.max_train_users < 1:
            raise ValueError("min_positives and max_train_users must be at least 1")


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


@dataclass(frozen=True)
class Takeup:
    """Today's take-up probabilities: users x modelled subtopics, and the models behind them."""

    user_ids: list[str]
    models: TakeupModels
    probabilities: np.ndarray
    window_days: float  # the training window used (see the module docstring)

    @property
    def subtopic_ids(self) -> list[str]:
        return self.models.subtopic_ids

    @property
    def signal(self) -> tuple[list[str], list[str], np.ndarray]:
        """(user ids, subtopic ids, probabilities), as the expansion's model signal takes them."""
        return self.user_ids, self.subtopic_ids, self.probabilities


def first_takeups(interactions: pl.DataFrame, split_ts: dt.datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(user_id, subtopic_id) pairs seen before ``split_ts``, and those first seen at or after it."""
    pairs = (
        interactions.filter(pl.col("subtopic_id").is_not_null())
        .group_by("user_id", "subtopic_id")
        .agg(pl.col("event_ts").min().alias("_first"))
    )
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
    params: TakeupParams = TakeupParams(),
) -> TakeupModels:
    """One logistic regression per subtopic (rules in the module docstring).

    ``user_ids`` / ``features``: the fused vectors from events before ``split_ts``;
    ``interactions``: user_id, event_ts, subtopic_id over the whole window (before and after).
    At most ``params.max_train_users`` users (a seeded sample) train the models, to bound the cost.
    """
    from sklearn.linear_model import LogisticRegression

    before, after = first_takeups(interactions, split_ts)
    users = list(user_ids)
    if len(users) > params.max_train_users:
        keep = np.sort(
            np.random.default_rng(params.seed).choice(len(users), size=params.max_train_users, replace=False)
        )
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
        if n_pos < params.min_positives or n_pos == int(eligible.sum()):
            continue
        model = LogisticRegression(C=params.regularisation, max_iter=200)
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
    history: UserHistory,
    interactions: pl.DataFrame,
    subtopic_ids: Sequence[str],
    reference_ts: dt.datetime,
    features: UserFeatureParams = UserFeatureParams(),
    params: TakeupParams = TakeupParams(),
) -> Takeup:
    """Fit on the window before ``reference_ts`` (features up to ``reference_ts - window_days``,
    take-ups after; the window widened as the module docstring says), then predict from
    features up to ``reference_ts``.

    The features are the fused vectors built with ``features``, the parameters
    ``fused_user_features`` was built with. ``history`` and ``interactions`` (user_id, event_ts,
    subtopic_id) must not reach past ``reference_ts``.
    """
    models, window = train_takeup_models(history, interactions, subtopic_ids, reference_ts, features, params)
    users, today = fused_vectors(history, features)
    return Takeup(users, models, models.predict(today), window)


def train_takeup_models(
    history: UserHistory,
    interactions: pl.DataFrame,
    subtopic_ids: Sequence[str],
    reference_ts: dt.datetime,
    features: UserFeatureParams = UserFeatureParams(),
    params: TakeupParams = TakeupParams(),
) -> tuple[TakeupModels, float]:
    """The models of :func:`takeup_probabilities` and the window they were trained on, without
    predicting: the daily expansion applies stored models to the stored fused features."""
    window = params.window_days
    while True:
        split = reference_ts - dt.timedelta(days=window)
        train_users, train_features = fused_vectors(history.before(split), features)
        models = fit_takeup_models(train_users, train_features, interactions, split, subtopic_ids, params)
        if models.subtopic_ids or window >= params.max_window_days:
            return models, window
        window = min(2 * window, params.max_window_days)


def models_as_frame(models: TakeupModels) -> pl.DataFrame:
    """One row per modelled subtopic: subtopic_id, coef (DOUBLE[]), intercept, n_positives."""
    return pl.DataFrame(
        {
            "subtopic_id": models.subtopic_ids,
            "coef": [row.tolist() for row in models.coef],
            "intercept": models.intercept.tolist(),
            "n_positives": models.n_positives.tolist(),
        },
        schema={
            "subtopic_id": pl.String,
            "coef": pl.List(pl.Float64),
            "intercept": pl.Float64,
            "n_positives": pl.Int64,
        },
    )


def models_from_frame(frame: pl.DataFrame, n_train_users: int, dim: int) -> TakeupModels:
    """The inverse of :func:`models_as_frame` (rows in subtopic order)."""
    frame = frame.sort("subtopic_id")
    coef = np.array(frame["coef"].to_list(), dtype=np.float64).reshape(frame.height, dim if frame.height == 0 else -1)
    return TakeupModels(
        subtopic_ids=frame["subtopic_id"].to_list(),
        coef=coef,
        intercept=frame["intercept"].to_numpy().astype(np.float64),
        n_positives=frame["n_positives"].to_numpy().astype(np.int64),
        n_train_users=n_train_users,
    )
