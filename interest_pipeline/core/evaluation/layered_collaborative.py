"""Collaborative scores re-weighted by the user's interest layers: the ranker a recommender ships.

Collaborative filtering knows which items go together; the interest layers know what the user is
into now (core, secondary and peripheral subtopics, long- and short-term) and can speak for users
and items with little co-occurrence. The ranker mixes the two on one scale:

    score(u, i) = (1 - layer_weight) * cf(u, i) + layer_weight * layers(u, i)

- ``cf``: a collaborative model (EASE^R or item-kNN,
  :mod:`interest_pipeline.core.evaluation.collaborative`) reading the user's history by recency,
  the short-term view of the user's interests: the k-th most recent item the user had weighs
  ``0.5 ** (k / recency_half_life)``. The model, its setting and the half-life (0 reads the history
  unweighted, as the baselines do) are chosen together on the validation slice. Each user's scores
  are scaled to [0, 1] over the items (min-max; a user whose scores are all equal, e.g. without any
  training interaction, has no collaborative part);
- ``layers``: the interest-layer ranker (:mod:`interest_pipeline.core.evaluation.blended_ranker`:
  the multi-interest score from the user's recency-weighted subtopic shares, blended with the
  popularity prior), already in [0, 1].

A user without a collaborative part gets the layer ranker alone, and so its popular fallback when
they have no layers either. ``interest_boost`` re-weights the collaborative part by the user's
share of each item's subtopic: ``cf * (1 + boost * share(u, subtopic(i))) / (1 + boost)``. Both
settings are chosen on the validation slice (:func:`settings`); the plain collaborative model
(both 0) is among them, so where the layers add nothing on a catalogue the ranker is the
collaborative model alone, and the evaluation says so (``layered/*`` parameters).

Last, the list is spread over the user's interests (``subtopic_decay``, PinnerSage-like without
separate candidate lists): among the user's :data:`RERANKED` best unseen items, each item's score is
multiplied by ``subtopic_decay ** r``, r the number of better-scored items of the same subtopic
before it, so that the second and third item of one interest give way to the first of another; 1
leaves the order as it is. Users without a collaborative part keep the popular fallback as it is.
The decay is tuned after the two settings above, on the same slice, as the strongest whose
validation nDCG@10 is within :data:`DECAY_NDCG_TOLERANCE` (1%) of the best decay's: reaching more
of a user's interests is worth that little accuracy, and no more.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from interest_pipeline.core.evaluation import blended_ranker as blended
from interest_pipeline.core.evaluation import collaborative
from interest_pipeline.core.evaluation import scoring_methods as scoring
from interest_pipeline.core.evaluation.metrics import SEED, by_row_blocks

LAYER_WEIGHTS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5)
INTEREST_BOOSTS: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0)
SUBTOPIC_DECAYS: tuple[float, ...] = (1.0, 0.95, 0.9, 0.8, 0.7)
RERANKED = 100  # the best unseen items per user that the subtopic decay re-orders
DECAY_NDCG_TOLERANCE = 0.01  # relative validation nDCG@10 given up at most for a stronger decay


@dataclass(frozen=True)
class LayeredParams:
    """One setting of the ranker (rules in the module docstring)."""

    layer_weight: float = 0.0
    interest_boost: float = 0.0
    subtopic_decay: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.layer_weight <= 1.0:
            raise ValueError(f"layer_weight must be in [0, 1], got {self.layer_weight}")
        if self.interest_boost < 0:
            raise ValueError(f"interest_boost must be at least 0, got {self.interest_boost}")
        if not 0.0 < self.subtopic_decay <= 1.0:
            raise ValueError(f"subtopic_decay must be in (0, 1], got {self.subtopic_decay}")


def settings(
    layer_weights: Sequence[float] = LAYER_WEIGHTS, interest_boosts: Sequence[float] = INTEREST_BOOSTS
) -> list[LayeredParams]:
    """The layer weights and interest boosts tried on the validation slice, the plain collaborative
    model (0, 0) first; the subtopic decay is tuned after them (:func:`tune_setting`)."""
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


def ranks_within_subtopic(subtopics: np.ndarray) -> np.ndarray:
    """For each row of ``subtopics`` (users x ordered items, -1 for none), how many earlier items of
    the row share each item's subtopic (0 for items without one)."""
    n_rows, n_cols = subtopics.shape
    rows = np.repeat(np.arange(n_rows), n_cols)
    flat = subtopics.ravel()
    order = np.lexsort((np.tile(np.arange(n_cols), n_rows), flat, rows))  # by row, subtopic, position
    keys = rows[order] * (int(flat.max(initial=0)) + 2) + flat[order] + 1
    starts = np.r_[True, keys[1:] != keys[:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order)) - group_start
    return np.where(flat < 0, 0, ranks).reshape(n_rows, n_cols)


def spread_over_interests(
    scores: np.ndarray, seen: np.ndarray, item_subtopic: np.ndarray, decay: float, top: int = RERANKED
) -> np.ndarray:
    """``scores`` with each user's ``top`` best unseen items re-ordered by the subtopic decay (rules in
    the module docstring) and lifted above every other item; the rest keep their scores."""
    if decay >= 1.0 or scores.shape[1] == 0:
        return scores
    top = min(top, scores.shape[1])
    candidates = np.where(seen, -np.inf, scores)
    best = np.argpartition(-candidates, top - 1, axis=1)[:, :top]
    values = np.take_along_axis(candidates, best, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    best, values = np.take_along_axis(best, order, axis=1), np.take_along_axis(values, order, axis=1)
    decayed = values * decay ** ranks_within_subtopic(item_subtopic[best])
    out = scores.copy()
    # scores are in [0, 1]: 1 + the decayed score keeps the re-ordered items first; seen items stay out
    np.put_along_axis(out, best, np.where(np.isfinite(values), 1.0 + decayed, values), axis=1)
    return np.where(seen, scores, out)


def mix(
    collaborative: np.ndarray,
    layers: np.ndarray,
    shares: np.ndarray,
    item_subtopic: np.ndarray,
    params: LayeredParams,
    seen=None,
) -> np.ndarray:
    """users x items scores of the ranker (rules in the module docstring): ``collaborative`` raw,
    ``layers`` the layer ranker's scores in [0, 1], ``shares`` the users' subtopic shares (users x
    subtopics), ``item_subtopic`` each item's subtopic column (-1 for none) and ``seen`` (users x
    items, dense or sparse; needed for a subtopic decay below 1) the items each user already had."""
    w, boost, decay = params.layer_weight, params.interest_boost, params.subtopic_decay
    if decay < 1.0 and seen is None:
        raise ValueError("a subtopic decay below 1 needs the users' seen items")
    seen = np.zeros((len(collaborative), 0), dtype=bool) if seen is None else seen

    def rows(collaborative: np.ndarray, layers: np.ndarray, shares: np.ndarray, seen) -> np.ndarray:
        scaled, has_cf = scale_rows(collaborative)
        if boost:
            scaled *= (1.0 + boost * item_shares(shares, item_subtopic)) / (1.0 + boost)
        mixed = np.where(has_cf[:, None], (1.0 - w) * scaled + w * layers, layers)
        if decay < 1.0 and has_cf.any():
            seen = seen.toarray() if hasattr(seen, "toarray") else np.asarray(seen)
            spread = spread_over_interests(mixed[has_cf], seen[has_cf].astype(bool), item_subtopic, decay)
            mixed[has_cf] = spread
        return mixed

    return by_row_blocks(rows, (collaborative, layers, shares, seen))


@dataclass(frozen=True)
class ShippedRankerSettings:
    """Every setting of the ranker: the layer ranker's blend, the collaborative part (model, setting,
    recency half-life) and the mix (layer weight, interest boost, subtopic decay)."""

    blend: blended.BlendParams = field(default_factory=blended.BlendParams)
    collaborative: collaborative.CollaborativeChoice = field(
        default_factory=lambda: collaborative.CollaborativeChoice("ease", collaborative.EASE_L2_GRID[1])
    )
    layered: LayeredParams = field(default_factory=LayeredParams)


@dataclass(frozen=True)
class LayeredTuning:
    """The collaborative part and the setting chosen, the validation nDCG, and every setting's score."""

    collaborative_choice: collaborative.CollaborativeChoice
    best: LayeredParams
    validation_ndcg: float
    scores: list[tuple[LayeredParams, float]]

    @property
    def model(self) -> str:
        return self.collaborative_choice.model


def tune_setting(
    choice: collaborative.CollaborativeChoice,
    collaborative: np.ndarray,
    layers: np.ndarray,
    shares: np.ndarray,
    item_subtopic: np.ndarray,
    relevant: np.ndarray,
    exclude: np.ndarray,
    mean_ndcg: Callable[[np.ndarray, np.ndarray, np.ndarray, int], float],
    grid: Sequence[LayeredParams] | None = None,
    decays: Sequence[float] = SUBTOPIC_DECAYS,
    tolerance: float = DECAY_NDCG_TOLERANCE,
    k: int = 10,
) -> LayeredTuning:
    """The setting chosen by mean nDCG@``k`` on the validation users (rows of every array; their
    seen items are ``exclude``): the best layer weight and interest boost over ``grid`` (ties keep
    the earlier, the plain collaborative model first), then with them the strongest subtopic decay
    of ``decays`` whose nDCG is within ``tolerance`` (relative) of the best decay's."""
    grid = list(grid or settings())
    if not len(collaborative):
        return LayeredTuning(choice, grid[0], float("nan"), [])

    def score(params: LayeredParams) -> float:
        scores = mix(collaborative, layers, shares, item_subtopic, params, exclude)
        return mean_ndcg(scores, relevant, exclude, k)

    def best_of(candidates: list[LayeredParams]) -> tuple[LayeredParams, float, list]:
        scored = [(p, score(p)) for p in candidates]
        best, best_score = scored[0]
        for params, value in scored[1:]:
            if value > best_score:
                best, best_score = params, value
        return best, best_score, scored

    best, best_score, scored = best_of(grid)
    decayed = [(p, score(p)) for p in (replace(best, subtopic_decay=d) for d in decays if d != best.subtopic_decay)]
    candidates = [(best, best_score), *decayed]
    top = max(value for _, value in candidates)
    within = [(p, value) for p, value in candidates if value >= (1.0 - tolerance) * top]
    chosen, chosen_score = min(within, key=lambda pv: pv[0].subtopic_decay)
    return LayeredTuning(choice, chosen, float(chosen_score), scored + decayed)


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
    choice = collaborative_tuning.shipped_choice
    users, relevant, exclude = scoring.validation_targets(
        fit, validation, inputs.items.ids, relevant_types, max_users, seed
    )
    if not users:
        return LayeredTuning(choice, LayeredParams(), float("nan"), [])
    scores = collaborative_tuning.recent_validation_scores
    if scores is None or scores.shape != relevant.shape:  # tuned elsewhere: fit the model on the fit part
        fit_users = sorted(set(fit["user_id"].to_list()))
        interactions = collaborative.implicit_matrix(fit, fit_users, inputs.items.ids)
        weights = collaborative.model_weights(choice.model, interactions, choice.setting)
        history = collaborative.recency_weighted_matrix(fit, users, inputs.items.ids, choice.recency_half_life)
        scores = collaborative.model_scores(choice.model, history, weights)
    layers = blended.blended_scores(inputs, users, reference_ts, layer_params)
    shares = blended.subtopic_shares(inputs, users, reference_ts, layer_params)
    item_subtopic = subtopic_columns(inputs.taxonomy, inputs.items.ids)
    return tune_setting(choice, scores, layers, shares, item_subtopic, relevant, exclude, blended.mean_ndcg)
