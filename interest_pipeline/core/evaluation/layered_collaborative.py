"""Collaborative scores re-weighted by the user's interest layers: the ranker a recommender ships.

Collaborative filtering knows which items go together; the interest layers know what the user is
into now (core, secondary and peripheral subtopics, long- and short-term) and can speak for users
and items with little co-occurrence. The ranker mixes the two on one scale:

    score(u, i) = (1 - layer_weight) * cf(u, i) + layer_weight * layers(u, i)

- ``cf``: the collaborative model that scored better on the validation slice, EASE^R or item-kNN
  (:mod:`interest_pipeline.core.evaluation.collaborative`, each with its own setting chosen
  there), each user's scores scaled to [0, 1] over the items (min-max; a user whose scores are all
  equal, e.g. without any training interaction, has no collaborative part);
- ``layers``: the interest-layer ranker (:mod:`interest_pipeline.core.evaluation.blended_ranker`:
  the multi-interest score from the user's recency-weighted subtopic shares, blended with the
  popularity prior), already in [0, 1].

A user without a collaborative part gets the layer ranker alone, and so its popular fallback when
they have no layers either. ``interest_boost`` re-weights the collaborative part by the user's
share of each item's subtopic: ``cf * (1 + boost * share(u, subtopic(i))) / (1 + boost)``. Both
settings are chosen on the validation slice (:func:`settings`); the plain collaborative model
(both 0) is among them, so where the layers add nothing on a catalogue the ranker is the
collaborative model alone, and the evaluation says so (``layered/*`` parameters).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from interest_pipeline.core.evaluation import blended_ranker as blended
from interest_pipeline.core.evaluation import collaborative
from interest_pipeline.core.evaluation import scoring_methods as scoring
from interest_pipeline.core.evaluation.metrics import SEED, by_row_blocks

LAYER_WEIGHTS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5)
INTEREST_BOOSTS: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0)


@dataclass(frozen=True)
class LayeredParams:
    """One setting of the ranker (rules in the module docstring)."""

    layer_weight: float = 0.0
    interest_boost: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.layer_weight <= 1.0:
            raise ValueError(f"layer_weight must be in [0, 1], got {self.layer_weight}")
        if self.interest_boost < 0:
            raise ValueError(f"interest_boost must be at least 0, got {self.interest_boost}")


def settings(
    layer_weights: Sequence[float] = LAYER_WEIGHTS, interest_boosts: Sequence[float] = INTEREST_BOOSTS
) -> list[LayeredParams]:
    """The grid tried on the validation slice, the plain collaborative model (0, 0) first."""
    return [LayeredParams(w, b) for w in layer_weights for b in interest_boosts]


def scale_rows(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row min-max scaled to [0, 1], and which rows vary (flat rows are all zeros)."""
    low = scores.min(axis=1, keepdims=True)
    spread = scores.max(axis=1, keepdims=True) - low
    scaled = np.divide(scores - low, spread, out=np.zeros(scores.shape, dtype=np.float64), where=spread > 0)
    return scaled, spread[:, 0] > 0


def item_shares(shares: np.ndarray, item_subtopic: np.ndarray) -> np.ndarray:
    """users x items: the user's share of each item's subtopic (0 for an item without one).
    ``shares``: users x subtopics; ``item_subtopic``: each item's subtopic column, -1 for none."""
    placed = item_subtopic >= 0
    out = np.zeros((len(shares), len(item_subtopic)))
    out[:, placed] = shares[:, item_subtopic[placed]]
    return out


def mix(
    collaborative: np.ndarray,
    layers: np.ndarray,
    shares: np.ndarray,
    item_subtopic: np.ndarray,
    params: LayeredParams,
) -> np.ndarray:
    """users x items scores of the ranker (rules in the module docstring): ``collaborative`` raw,
    ``layers`` the layer ranker's scores in [0, 1], ``shares`` the users' subtopic shares (users x
    subtopics) and ``item_subtopic`` each item's subtopic column (-1 for none)."""
    w, boost = params.layer_weight, params.interest_boost

    def rows(collaborative: np.ndarray, layers: np.ndarray, shares: np.ndarray) -> np.ndarray:
        scaled, has_cf = scale_rows(collaborative)
        if boost:
            scaled *= (1.0 + boost * item_shares(shares, item_subtopic)) / (1.0 + boost)
        return np.where(has_cf[:, None], (1.0 - w) * scaled + w * layers, layers)

    return by_row_blocks(rows, (collaborative, layers, shares))


@dataclass(frozen=True)
class LayeredTuning:
    """The collaborative model and setting chosen, the validation nDCG, and every setting's score."""

    model: str
    best: LayeredParams
    validation_ndcg: float
    scores: list[tuple[LayeredParams, float]]


def better_model(ease_validation_ndcg: float, knn_validation_ndcg: float) -> str:
    """The collaborative model with the higher validation nDCG (EASE on a tie or where neither was scored)."""
    return "item_knn" if knn_validation_ndcg > ease_validation_ndcg else "ease"


def tune_setting(
    model: str,
    collaborative: np.ndarray,
    layers: np.ndarray,
    shares: np.ndarray,
    item_subtopic: np.ndarray,
    relevant: np.ndarray,
    exclude: np.ndarray,
    mean_ndcg: Callable[[np.ndarray, np.ndarray, np.ndarray, int], float],
    grid: Sequence[LayeredParams] | None = None,
    k: int = 10,
) -> LayeredTuning:
    """The setting with the best mean nDCG@``k`` on the validation users (rows of every array);
    ties keep the earlier setting in grid order (the plain collaborative model first)."""
    grid = list(grid or settings())
    if not len(collaborative):
        return LayeredTuning(model, grid[0], float("nan"), [])
    scores = [(p, mean_ndcg(mix(collaborative, layers, shares, item_subtopic, p), relevant, exclude, k)) for p in grid]
    best, best_score = scores[0]
    for params, score in scores[1:]:
        if score > best_score:
            best, best_score = params, score
    return LayeredTuning(model, best, float(best_score), scores)


def subtopic_columns(taxonomy: scoring.Taxonomy, item_ids: Sequence[str]) -> np.ndarray:
    """Each item's column among ``taxonomy.subtopic_ids`` (the share matrices' order), -1 for none."""
    column = {s: i for i, s in enumerate(taxonomy.subtopic_ids)}
    item_subtopic = dict(
        taxonomy.content_topics.filter((pl.col("content_kind") == "item") & pl.col("subtopic_id").is_not_null())
        .select("content_id", "subtopic_id")
        .iter_rows()
    )
    return np.array([column.get(item_subtopic.get(i), -1) for i in item_ids], dtype=np.int64)


def tune_on_validation(
    fit: pl.DataFrame,
    validation: pl.DataFrame,
    reference_ts: dt.datetime,
    inputs: blended.RankerInputs,
    layer_params: blended.BlendParams,
    collaborative_tuning: collaborative.CollaborativeTuning,
    relevant_types: Sequence[str],
    max_users: int = 2_000,
    seed: int = SEED,
) -> LayeredTuning:
    """:func:`tune_layer_weight` on the validation slice (the training events cut in two; test
    events never enter), with the layer ranker's and the collaborative models' own tuned settings:
    both parts are fitted on the ``fit`` part (``inputs.train`` must be it), the users are those the
    other settings were tuned on."""
    model = better_model(collaborative_tuning.ease_validation_ndcg, collaborative_tuning.knn_validation_ndcg)
    users, relevant, exclude = scoring.validation_targets(
        fit, validation, inputs.items.ids, relevant_types, max_users, seed
    )
    if not users:
        return LayeredTuning(model, LayeredParams(), float("nan"), [])
    fit_users = sorted(set(fit["user_id"].to_list()))
    row_of = {u: i for i, u in enumerate(fit_users)}
    interactions = collaborative.implicit_matrix(fit, fit_users, inputs.items.ids)
    weights = collaborative.model_weights(model, interactions, collaborative_tuning)
    scores = collaborative.model_scores(model, interactions[[row_of[u] for u in users]], weights)
    layers = blended.blended_scores(inputs, users, reference_ts, layer_params)
    shares = blended.subtopic_shares(inputs, users, reference_ts, layer_params)
    item_subtopic = subtopic_columns(inputs.taxonomy, inputs.items.ids)
    return tune_setting(model, scores, layers, shares, item_subtopic, relevant, exclude, blended.mean_ndcg)
