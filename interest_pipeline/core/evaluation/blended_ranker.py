"""The ranker a recommender would ship from the interest layers, and the next-interest view.

Per user and subtopic, the interest share mixes two views of the training events:

- **long**: event-type weight x ``0.5 ** (age_days / long_half_life_days)``;
- **recent**: event-type weight x ``0.5 ** (rank / event_half_life)``, rank 0 for the user's most
  recent event, whatever the spacing in days (a review written months after the previous one
  still counts most);

``share = (1 - recent_share) * share_long + recent_share * share_recent``. The layers' item score
is the multi-interest score of :func:`interest_pipeline.core.evaluation.scoring_methods.multi_interest_scores`,
divided by the user's largest; the popularity prior is ``log1p(popularity) / log1p(max)``:

    score(u, i) = (1 - popularity_weight) * layers(u, i) + popularity_weight * prior(i)

A user without any layer gets the prior alone (the production fallback). ``popularity_weight``
and both half-lives are chosen on the validation slice (:func:`tune_blended_ranker`), never on
test events.

Next interest: the node (topic or subtopic) of a user's first held-out anchor event, predicted
by the user's top node in the recent view (``next_interest_predictions``; its event half-life and
whether events count by type or all alike are chosen on the validation slice), against the node
of the user's previous event and the user's most frequent node.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from interest_pipeline.core.evaluation import scoring_methods as scoring
from interest_pipeline.core.evaluation.metrics import SEED, by_row_blocks, ndcg_at_k, top_k_relevance
from interest_pipeline.core.features.user_features import DEFAULT_EVENT_WEIGHTS, Embeddings
from interest_pipeline.core.profiles.layers import recency_rank


@dataclass(frozen=True)
class BlendParams:
    """One setting of the blended ranker (rules in the module docstring)."""

    popularity_weight: float = 0.5
    long_half_life_days: float = 90.0
    event_half_life: float = 4.0
    recent_share: float = 0.5
    membership_bonus: float = scoring.MEMBERSHIP_BONUS

    def __post_init__(self) -> None:
        if not 0.0 <= self.popularity_weight <= 1.0 or not 0.0 <= self.recent_share <= 1.0:
            raise ValueError("popularity_weight and recent_share must be in [0, 1]")
        if self.long_half_life_days <= 0 or self.event_half_life <= 0:
            raise ValueError("half-lives must be positive")


@dataclass(frozen=True)
class BlendGrid:
    """The settings tried on the validation slice."""

    popularity_weights: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
    long_half_lives_days: tuple[float, ...] = (30.0, 90.0, 365.0)
    event_half_lives: tuple[float, ...] = (0.5, 2.0, 8.0)
    recent_share: float = 0.5
    membership_bonus: float = scoring.MEMBERSHIP_BONUS
    metric_k: int = 10  # nDCG@k on the validation slice picks the setting

    def settings(self) -> list[BlendParams]:
        return [
            BlendParams(w, h, e, self.recent_share, self.membership_bonus)
            for h, e, w in itertools.product(self.long_half_lives_days, self.event_half_lives, self.popularity_weights)
        ]


def weighted_interactions(
    interactions: pl.DataFrame,
    reference_ts: dt.datetime,
    long_half_life_days: float,
    event_half_life: float,
    weights: Mapping[str, float],
) -> pl.DataFrame:
    """Interactions (user_id, event_type, event_ts, topic_id, subtopic_id) with ``_long`` and ``_recent`` weights."""
    age_days = ((pl.lit(reference_ts) - pl.col("event_ts")) / dt.timedelta(days=1)).clip(lower_bound=0.0)
    w = pl.col("event_type").replace_strict(dict(weights), default=0.0, return_dtype=pl.Float64)
    return interactions.with_columns(
        (w * pl.lit(0.5).pow(age_days / long_half_life_days)).alias("_long"),
        (w * pl.lit(0.5).pow(recency_rank() / event_half_life)).alias("_recent"),
    )


def node_shares(weighted: pl.DataFrame, node_column: str, recent_share: float) -> pl.DataFrame:
    """user_id, node_id, share: the mixed share of each node the user touched."""
    grouped = weighted.group_by("user_id", node_column).agg(
        pl.col("_long").sort().sum(), pl.col("_recent").sort().sum()
    )
    totals = pl.col("_long").sum().over("user_id"), pl.col("_recent").sum().over("user_id")
    return grouped.with_columns(
        (
            (1.0 - recent_share) * (pl.col("_long") / totals[0]).fill_nan(0.0)
            + recent_share * (pl.col("_recent") / totals[1]).fill_nan(0.0)
        ).alias("share")
    ).select("user_id", pl.col(node_column).alias("node_id"), "share")


def popularity_prior(popularity: np.ndarray) -> np.ndarray:
    """``log1p(popularity) / log1p(max)`` in [0, 1] (zeros when nothing is popular)."""
    logged = np.log1p(np.clip(np.asarray(popularity, dtype=np.float64), 0.0, None))
    top = logged.max() if logged.size else 0.0
    return logged / top if top > 0 else np.zeros_like(logged)


def normalised_layers(layer_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row divided by its largest score, and which rows have a positive one (have layers)."""
    top = layer_scores.max(axis=1, keepdims=True)
    normalised = np.divide(layer_scores, top, out=np.zeros_like(layer_scores), where=top > 0)
    return normalised, top[:, 0] > 0


def blend_normalised(
    normalised: np.ndarray, has_layers: np.ndarray, prior: np.ndarray, popularity_weight: float
) -> np.ndarray:
    """:func:`blend` of layer scores already normalised (the tuning normalises once per half-life pair)."""

    def rows(normalised: np.ndarray, has_layers: np.ndarray) -> np.ndarray:
        blended = (1.0 - popularity_weight) * normalised + popularity_weight * prior[None, :]
        return np.where(has_layers[:, None], blended, prior[None, :])

    return by_row_blocks(rows, (normalised, has_layers))


def blend(layer_scores: np.ndarray, prior: np.ndarray, popularity_weight: float) -> np.ndarray:
    """The blended scores; rows without a positive layer score get the prior alone (fallback)."""
    return blend_normalised(*normalised_layers(layer_scores), prior, popularity_weight)


@dataclass(frozen=True)
class RankerInputs:
    """What the ranker is built from: training events, the taxonomy and the items' embeddings."""

    train: pl.DataFrame
    taxonomy: scoring.Taxonomy
    items: Embeddings
    event_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))


def subtopic_shares(
    inputs: RankerInputs, user_ids: Sequence[str], reference_ts: dt.datetime, params: BlendParams
) -> np.ndarray:
    """users x subtopics (the taxonomy's subtopic centroids' order): the mixed shares of the
    subtopics each user touched in ``inputs.train``; zeros for a user without any."""
    interactions = scoring.topic_interactions(inputs.train, inputs.taxonomy.content_topics)
    subtopic_ids = inputs.taxonomy.subtopic_ids
    if interactions.height == 0 or not subtopic_ids:
        return np.zeros((len(user_ids), len(subtopic_ids)))
    weighted = weighted_interactions(
        interactions, reference_ts, params.long_half_life_days, params.event_half_life, inputs.event_weights
    )
    return scoring.share_rows(node_shares(weighted, "subtopic_id", params.recent_share), user_ids, subtopic_ids)


def layer_scores(
    inputs: RankerInputs,
    user_ids: Sequence[str],
    reference_ts: dt.datetime,
    params: BlendParams,
    similarity: np.ndarray | None = None,
) -> np.ndarray:
    """users x items multi-interest scores from the mixed subtopic shares (unnormalised)."""
    centroids = inputs.taxonomy.centroids(inputs.items.dim)
    shares = subtopic_shares(inputs, user_ids, reference_ts, params)
    if not shares.any():
        return np.zeros((len(user_ids), len(inputs.items.ids)))
    if similarity is None:
        similarity = scoring.subtopic_item_similarity(
            inputs.taxonomy.content_topics, centroids, inputs.items, params.membership_bonus
        )
    return scoring.multi_interest_scores(shares, similarity)


def blended_scores(
    inputs: RankerInputs, user_ids: Sequence[str], reference_ts: dt.datetime, params: BlendParams
) -> np.ndarray:
    """users x items scores of the shipped ranker with ``params``."""
    popularity = scoring.popularity_scores(inputs.train, user_ids[:1] or [""], inputs.items.ids, inputs.event_weights)[
        0
    ]
    return blend(
        layer_scores(inputs, user_ids, reference_ts, params), popularity_prior(popularity), params.popularity_weight
    )


@dataclass(frozen=True)
class Tuning:
    """The chosen setting, its validation score, and every setting's score (for the record)."""

    best: BlendParams
    best_score: float
    n_validation_users: int
    scores: list[tuple[BlendParams, float]]


def mean_ndcg(scores: np.ndarray, relevant: np.ndarray, exclude: np.ndarray, k: int) -> float:
    """Mean nDCG@k over the rows with a relevant candidate (the rows given all have one)."""
    if not len(scores):
        return float("nan")

    def rows(scores: np.ndarray, relevant: np.ndarray, exclude: np.ndarray) -> np.ndarray:
        candidates = ~exclude
        relevant = relevant & candidates
        return ndcg_at_k(
            top_k_relevance(np.where(candidates, scores, -np.inf), relevant, k, threads=1), k, relevant.sum(axis=1)
        )

    return float(np.mean(by_row_blocks(rows, (scores, relevant, exclude))))


def tune_blended_ranker(
    fit: pl.DataFrame,
    validation: pl.DataFrame,
    taxonomy: scoring.Taxonomy,
    items: Embeddings,
    relevant_types: Sequence[str],
    reference_ts: dt.datetime,
    grid: BlendGrid = BlendGrid(),
    max_users: int = 2_000,
    seed: int = SEED,
    weights: Mapping[str, float] = DEFAULT_EVENT_WEIGHTS,
) -> Tuning:
    """The grid setting with the best mean nDCG@k on the validation slice.

    ``fit`` and ``validation`` are the two parts of the *training* events
    (:func:`interest_pipeline.core.evaluation.splits.validation_split`): test events never enter here.
    Users scored: those with fit-period history and a relevant new item in the validation part
    (a seeded sample of ``max_users``). Ties between settings go to the first in grid order.
    """
    users, relevant, exclude = scoring.validation_targets(fit, validation, items.ids, relevant_types, max_users, seed)
    settings = grid.settings()
    if not users:
        return Tuning(BlendParams(), float("nan"), 0, [])
    inputs = RankerInputs(fit, taxonomy, items, weights)
    centroids = taxonomy.centroids(items.dim)
    similarity = scoring.subtopic_item_similarity(taxonomy.content_topics, centroids, items, grid.membership_bonus)
    prior = popularity_prior(scoring.popularity_scores(fit, users[:1], items.ids, weights)[0])
    results: list[tuple[BlendParams, float]] = []
    cache: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = {}
    for params in settings:
        key = (params.long_half_life_days, params.event_half_life)
        if key not in cache:  # one layer matrix at a time, normalised once for every popularity weight
            cache = {key: normalised_layers(layer_scores(inputs, users, reference_ts, params, similarity))}
        scores = blend_normalised(*cache[key], prior, params.popularity_weight)
        results.append((params, mean_ndcg(scores, relevant, exclude, grid.metric_k)))
    best, best_score = settings[0], float("-inf")
    for params, score in results:
        if score > best_score:  # strictly better: ties keep the earlier setting
            best, best_score = params, score
    return Tuning(best, best_score, len(users), results)


def _anchor_interactions(
    events: pl.DataFrame, taxonomy: scoring.Taxonomy, relevant_types: Sequence[str]
) -> pl.DataFrame:
    rows = events.filter(pl.col("event_type").is_in(list(relevant_types)))
    return scoring.topic_interactions(rows, taxonomy.content_topics)


def next_nodes(
    test: pl.DataFrame, taxonomy: scoring.Taxonomy, relevant_types: Sequence[str], level: str
) -> pl.DataFrame:
    """user_id, truth: the node of each user's first held-out anchor event (ties: lowest node id)."""
    column = f"{level}_id"
    rows = _anchor_interactions(test, taxonomy, relevant_types)
    return (
        rows.sort("user_id", "event_ts", column)
        .group_by("user_id", maintain_order=True)
        .first()
        .select("user_id", pl.col(column).alias("truth"))
    )


def next_interest_predictions(
    train: pl.DataFrame,
    taxonomy: scoring.Taxonomy,
    reference_ts: dt.datetime,
    level: str,
    event_half_life: float,
    weights: Mapping[str, float] = DEFAULT_EVENT_WEIGHTS,
) -> pl.DataFrame:
    """user_id, recent, previous, majority: the predicted next node of every user with mapped training events.

    ``recent`` is the top node of the recent view (ties: lowest id); ``previous`` the node of the
    user's latest event (ties at one instant: the heaviest event type, then lowest id);
    ``majority`` the node with most events (ties: the most recent, then lowest id).
    """
    column = f"{level}_id"
    interactions = scoring.topic_interactions(train, taxonomy.content_topics)
    weighted = weighted_interactions(interactions, reference_ts, 1.0, event_half_life, weights)
    recent = (
        weighted.group_by("user_id", column)
        .agg(pl.col("_recent").sort().sum())
        .sort(["user_id", "_recent", column], descending=[False, True, False])
        .group_by("user_id", maintain_order=True)
        .first()
        .select("user_id", pl.col(column).alias("recent"))
    )
    w = pl.col("event_type").replace_strict(dict(weights), default=0.0, return_dtype=pl.Float64)
    previous = (
        interactions.with_columns(w.alias("_w"))
        .sort(["user_id", "event_ts", "_w", column], descending=[False, True, True, False])
        .group_by("user_id", maintain_order=True)
        .first()
        .select("user_id", pl.col(column).alias("previous"))
    )
    majority = (
        interactions.group_by("user_id", column)
        .agg(pl.len().alias("_n"), pl.col("event_ts").max().alias("_last"))
        .sort(["user_id", "_n", "_last", column], descending=[False, True, True, False])
        .group_by("user_id", maintain_order=True)
        .first()
        .select("user_id", pl.col(column).alias("majority"))
    )
    return recent.join(previous, on="user_id").join(majority, on="user_id").sort("user_id")


NEXT_INTEREST_METHODS: tuple[str, ...] = ("recent", "previous", "majority")


def next_interest_hits(predictions: pl.DataFrame, truth: pl.DataFrame) -> tuple[dict[str, float], int]:
    """Hit@1 of each prediction column over the users with both a prediction and a truth, and their number."""
    joined = predictions.join(truth, on="user_id", how="inner")
    if joined.height == 0:
        return {m: float("nan") for m in NEXT_INTEREST_METHODS}, 0
    return {m: float((joined[m] == joined["truth"]).mean()) for m in NEXT_INTEREST_METHODS}, joined.height


EQUAL_WEIGHTS = "equal"
TYPE_WEIGHTS = "event_type"


def next_interest_weights(weighting: str, weights: Mapping[str, float] = DEFAULT_EVENT_WEIGHTS) -> Mapping[str, float]:
    """The event weights of the recent view: the event-type weights, or every type alike."""
    return {k: 1.0 for k in weights} if weighting == EQUAL_WEIGHTS else weights


def tune_event_half_life(
    fit: pl.DataFrame,
    validation: pl.DataFrame,
    taxonomy: scoring.Taxonomy,
    relevant_types: Sequence[str],
    reference_ts: dt.datetime,
    level: str,
    half_lives: Sequence[float],
    weights: Mapping[str, float] = DEFAULT_EVENT_WEIGHTS,
) -> tuple[float, str, float]:
    """The event half-life and weighting (event-type weights or all alike) of the recent view with the
    best next-interest Hit@1 on the validation slice, and that Hit@1 (ties: the first tried)."""
    truth = next_nodes(validation, taxonomy, relevant_types, level)
    best = (float(half_lives[0]), TYPE_WEIGHTS, float("-inf"))
    for weighting in (TYPE_WEIGHTS, EQUAL_WEIGHTS):
        for half_life in half_lives:
            predictions = next_interest_predictions(
                fit, taxonomy, reference_ts, level, half_life, next_interest_weights(weighting, weights)
            )
            hits, n = next_interest_hits(predictions, truth)
            if n and hits["recent"] > best[2]:
                best = (float(half_life), weighting, hits["recent"])
    return best if np.isfinite(best[2]) else (float(half_lives[0]), TYPE_WEIGHTS, float("nan"))
