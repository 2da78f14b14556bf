"""Hold-out scoring: score items for users with several methods, from training events only.

Every scoring function returns a users x items float matrix whose rows follow ``user_ids``
and whose columns follow ``item_ids``; only training events (before each user's boundary, see
:mod:`interest_pipeline.core.evaluation.splits`) may be passed to them. Relevance and exclusion matrices
come from :func:`interaction_matrix`.

Rules:

- train = events before the user's boundary (a per-user split or one global cutoff,
  :func:`split_by_cutoff`); test = the user's events from the boundary on;
- an item is relevant for a user when the user has a test-period event of one of
  ``RELEVANT_EVENT_TYPES`` on it. ``view`` is left out (an impression says little about
  interest and is largely driven by what was shown), ``search`` has no item;
- items the user had any event on (views included) in the train period are excluded from
  the user's candidates (``exclude``): the task is to find new items.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from interest_pipeline.core.common.vectors import l2_normalise, series_to_vectors
from interest_pipeline.core.evaluation.metrics import DEFAULT_KS, SEED, by_row_blocks
from interest_pipeline.core.evaluation.splits import SplitParams, cutoff_at_fraction  # noqa: F401  (the global cutoff's time, also used from here)
from interest_pipeline.core.expansion.interest_expansion import ExpansionParams
from interest_pipeline.core.features.user_features import (
    DEFAULT_EVENT_WEIGHTS,
    BehaviorParams,
    Embeddings,
    UserHistory,
    align_vectors,
    user_behavior_vectors,
    user_text_vectors,
)
from interest_pipeline.core.profiles.layers import LayerParams, interest_layers

RELEVANT_EVENT_TYPES: tuple[str, ...] = ("click", "favorite", "add_to_cart", "purchase", "rate", "review")


# How much an item of one of the user's own subtopics is lifted in the layers' score.
MEMBERSHIP_BONUS = 0.1


@dataclass(frozen=True)
class EvaluationParams:
    """Settings of one hold-out evaluation (rules in the module docstring)."""

    protocol: str = SplitParams().protocol  # per_user, leave_last_one or global_cutoff (core.splits)
    test_fraction: float = SplitParams().test_fraction
    test_events: int = SplitParams().test_events
    cutoff: dt.datetime | None = None  # global_cutoff: None means ``cutoff_fraction`` of the event time span
    cutoff_fraction: float = 0.8
    validation_max_users: int = 2_000  # users scored on the validation slice when tuning the blended ranker
    bootstrap_resamples: int = 1_000  # of the paired per-user confidence intervals
    ks: tuple[int, ...] = DEFAULT_KS
    relevant_event_types: tuple[str, ...] = RELEVANT_EVENT_TYPES
    seed: int = SEED  # of the random baseline, of K-Means, of the user sample and of the take-up models
    # k-means++ starts of the K-Means segment baseline; the best is kept (above KMEANS_START_SAMPLE
    # users they are compared on a sample, see kmeans_segments). One start scored the baseline lower
    # on the small sample over five seeds, so it gets ten.
    kmeans_restarts: int = 10
    max_users: int = 5_000  # a seeded sample of this many test-period users is scored; 0: all
    # the train-period layers decay as the profiles' long-term view does
    long_half_life_days: float = LayerParams().long_half_life_days
    membership_bonus: float = MEMBERSHIP_BONUS
    expansion_top_n: int = ExpansionParams().top_n

    def __post_init__(self) -> None:
        if not 0.0 < self.cutoff_fraction < 1.0:
            raise ValueError(f"cutoff_fraction must be in (0, 1), got {self.cutoff_fraction}")
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"ks must be positive cut-offs, got {self.ks}")
        if self.long_half_life_days <= 0:
            raise ValueError("long_half_life_days must be positive")
        if self.kmeans_restarts < 1:
            raise ValueError(f"kmeans_restarts must be at least 1, got {self.kmeans_restarts}")
        _ = self.split  # validates the split settings

    @property
    def split(self) -> SplitParams:
        return SplitParams(self.protocol, self.test_fraction, self.test_events, self.cutoff, self.cutoff_fraction)

    def train_layers(self, weights: dict[str, float] = DEFAULT_EVENT_WEIGHTS) -> LayerParams:
        """Layers of the train period: one view, decayed from the cutoff with the long half-life."""
        return LayerParams(
            long_half_life_days=self.long_half_life_days,
            short_half_life_days=self.long_half_life_days,
            event_weights=weights,
        )

    def train_behavior(self, weights: dict[str, float] = DEFAULT_EVENT_WEIGHTS) -> BehaviorParams:
        return BehaviorParams(half_life_days=self.long_half_life_days, event_weights=weights)


@dataclass(frozen=True)
class Taxonomy:
    """The clustering's output as the hold-out uses it: ``content_topics`` (content_id,
    content_kind, topic_id, subtopic_id) and ``hierarchy`` (node_id, level, parent_id, label, centroid)."""

    content_topics: pl.DataFrame
    hierarchy: pl.DataFrame

    @property
    def subtopic_ids(self) -> list[str]:
        return self.hierarchy.filter(pl.col("level") == "subtopic")["node_id"].to_list()

    @property
    def n_topics(self) -> int:
        return self.hierarchy.filter(pl.col("level") == "topic").height

    def centroids(self, dim: int) -> Embeddings:
        subtopics = self.hierarchy.filter(pl.col("level") == "subtopic")
        return Embeddings(subtopics["node_id"].to_list(), series_to_vectors(subtopics["centroid"], dim))


def sample_users(user_ids: Sequence[str], max_users: int, seed: int = SEED) -> list[str]:
    """``user_ids`` sorted, or a seeded sample of ``max_users`` of them (sorted) when there are more.

    Ranking every item for every user costs users x items of memory per method, so large
    evaluations score a sample; 0 or less means no limit.
    """
    ordered = sorted(user_ids)
    if max_users <= 0 or len(ordered) <= max_users:
        return ordered
    chosen = np.random.default_rng(seed).choice(len(ordered), size=max_users, replace=False)
    return [ordered[i] for i in np.sort(chosen)]


def split_by_cutoff(events: pl.DataFrame, cutoff: dt.datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train, test): events strictly before the cutoff, and from the cutoff on."""
    before = pl.col("event_ts") < pl.lit(cutoff, dtype=events.schema["event_ts"])
    return events.filter(before), events.filter(~before)


def validation_targets(
    fit: pl.DataFrame,
    validation: pl.DataFrame,
    item_ids: Sequence[str],
    relevant_types: Sequence[str],
    max_users: int,
    seed: int = SEED,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The users every setting is tuned on, with their relevant items and their exclusions (users x
    items): users with fit-period history and a relevant new item in the validation part (a seeded
    sample of ``max_users``, sorted); ``fit`` and ``validation`` are the two parts of the training events."""
    relevant_users = set(
        validation.filter(pl.col("event_type").is_in(list(relevant_types)) & pl.col("item_id").is_not_null())[
            "user_id"
        ].to_list()
    )
    users = sample_users(relevant_users & set(fit["user_id"].to_list()), max_users, seed)
    relevant = interaction_matrix(validation, users, item_ids, relevant_types)
    exclude = interaction_matrix(fit, users, item_ids)
    keep = (relevant & ~exclude).any(axis=1)
    return [u for u, k in zip(users, keep) if k], relevant[keep], exclude[keep]


def interaction_matrix(
    events: pl.DataFrame, user_ids: Sequence[str], item_ids: Sequence[str], event_types: Sequence[str] | None = None
) -> np.ndarray:
    """users x items booleans: True where the user has an event (of ``event_types``, all when None) on the item."""
    out = np.zeros((len(user_ids), len(item_ids)), dtype=bool)
    rows = events.filter(pl.col("item_id").is_not_null())
    if event_types is not None:
        rows = rows.filter(pl.col("event_type").is_in(list(event_types)))
    u, i = pair_positions(rows, user_ids, item_ids)
    out[u, i] = True
    return out


def pair_positions(
    rows: pl.DataFrame, user_ids: Sequence[str], item_ids: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the (user_id, item_id) pairs of ``rows`` that both exist."""
    users = pl.DataFrame(
        {"user_id": list(user_ids), "_u": np.arange(len(user_ids))}, schema={"user_id": pl.String, "_u": pl.Int64}
    )
    items = pl.DataFrame(
        {"item_id": list(item_ids), "_i": np.arange(len(item_ids))}, schema={"item_id": pl.String, "_i": pl.Int64}
    )
    joined = rows.join(users, on="user_id", how="inner").join(items, on="item_id", how="inner")
    return joined["_u"].to_numpy(), joined["_i"].to_numpy()


def _item_weights(
    train: pl.DataFrame,
    item_ids: Sequence[str],
    weights: dict[str, float],
    group_column: str | None = None,
    n_groups: int = 1,
) -> np.ndarray:
    """Event-type-weighted event counts per item (per group when ``group_column`` is given)."""
    rows = train.filter(pl.col("item_id").is_not_null() & pl.col("event_type").is_in(list(weights)))
    items = pl.DataFrame(
        {"item_id": list(item_ids), "_i": np.arange(len(item_ids))}, schema={"item_id": pl.String, "_i": pl.Int64}
    )
    joined = rows.join(items, on="item_id", how="inner")
    w = joined["event_type"].replace_strict(weights, return_dtype=pl.Float64).to_numpy()
    out = np.zeros((n_groups, len(item_ids)))
    g = np.zeros(joined.height, dtype=np.int64) if group_column is None else joined[group_column].to_numpy()
    np.add.at(out, (g, joined["_i"].to_numpy()), w)
    return out


def random_scores(n_users: int, n_items: int, seed: int = SEED) -> np.ndarray:
    return np.random.default_rng(seed).random((n_users, n_items))


def popularity_scores(
    train: pl.DataFrame,
    user_ids: Sequence[str],
    item_ids: Sequence[str],
    weights: dict[str, float] = DEFAULT_EVENT_WEIGHTS,
) -> np.ndarray:
    """Every user gets the same row: the items' event-type-weighted train-period popularity."""
    return np.repeat(_item_weights(train, item_ids, weights), len(user_ids), axis=0)


def mean_embedding_scores(
    train: pl.DataFrame, user_ids: Sequence[str], items: Embeddings, behavior: BehaviorParams = BehaviorParams()
) -> np.ndarray:
    """One vector per user (X_u: decayed, weighted mean of train-period item embeddings) . items."""
    user_matrix = _behavior_matrix(train, user_ids, items, behavior)
    return user_matrix @ l2_normalise(items.vectors).T.astype(np.float64)


def _behavior_matrix(
    train: pl.DataFrame, user_ids: Sequence[str], items: Embeddings, behavior: BehaviorParams
) -> np.ndarray:
    item_events = train.filter(pl.col("item_id").is_not_null()).select("user_id", "item_id", "event_type", "event_ts")
    users, vectors = user_behavior_vectors(
        item_events, list(items.ids), items.vectors, behavior.half_life_days, behavior.event_weights
    )
    return align_vectors(users, vectors, user_ids, items.dim)


def kmeans_segment_scores(
    train: UserHistory,
    user_ids: Sequence[str],
    n_clusters: int,
    behavior: BehaviorParams = BehaviorParams(),
    seed: int = SEED,
    score_user_ids: Sequence[str] | None = None,
    restarts: int = EvaluationParams().kmeans_restarts,
) -> tuple[np.ndarray, np.ndarray]:
    """K-Means segments on [X_u, X_t]; items scored by their popularity within the user's segment.

    X_u as in :func:`mean_embedding_scores`, X_t the decayed mean (same half-life) of the user's
    train-period text embeddings, zeros when the user wrote none. Users in ``user_ids`` are
    clustered (those without any train activity get zeros and fall into the nearest segment).
    Ties within a segment are broken by global popularity (scaled below one segment event).
    Returns the scores of ``score_user_ids`` (default: every user in ``user_ids``; a subset
    keeps the users x items matrix small when many users are fitted) and each user's segment.
    ``restarts`` k-means++ starts are tried (:func:`kmeans_segments`).
    """
    events, items, texts, weights = train.events, train.items, train.texts, behavior.event_weights
    behaviour = _behavior_matrix(events, user_ids, items, behavior)
    text_users, text_vectors = user_text_vectors(texts.rows, texts.vectors, behavior.half_life_days)
    text_dim = texts.vectors.shape[1] if texts.vectors.ndim == 2 and texts.vectors.shape[1] else items.dim
    text = align_vectors(text_users, text_vectors, user_ids, text_dim)
    features = np.hstack([behaviour, text])
    k = max(1, min(int(n_clusters), len(user_ids)))
    segments = kmeans_segments(features, k, restarts, seed) if len(user_ids) else np.zeros(0, dtype=np.int64)
    segment_of = pl.DataFrame(
        {"user_id": list(user_ids), "_segment": segments.astype(np.int64)},
        schema={"user_id": pl.String, "_segment": pl.Int64},
    )
    rows = events.join(segment_of, on="user_id", how="inner")
    per_segment = _item_weights(rows, items.ids, weights, "_segment", k)
    overall = _item_weights(events, items.ids, weights)[0]
    tie_break = overall / (overall.max() + 1.0) * min(weights.values(), default=1.0) * 0.5
    if score_user_ids is None:
        scored_segments = segments
    else:
        row_of = {u: i for i, u in enumerate(user_ids)}
        scored_segments = segments[[row_of[u] for u in score_user_ids]]
    return per_segment[scored_segments] + tie_break[None, :], segments


# Users on which the K-Means starts are compared when more users are clustered: ten full starts on
# the large benchmark's 88,591 users x 768 features took 98-106 s of the evaluation's 240 s.
KMEANS_START_SAMPLE = 20_000


def kmeans_segments(features: np.ndarray, n_clusters: int, restarts: int, seed: int) -> np.ndarray:
    """K-Means labels of the rows of ``features``: the best (lowest inertia) of ``restarts`` k-means++
    starts. Up to :data:`KMEANS_START_SAMPLE` rows that is scikit-learn's ``n_init``; above it the
    starts run on a seeded sample of that many rows, and the best one's centroids start a single
    K-Means over every row (the usual sub-sampled initialisation: the costly part runs once)."""
    from sklearn.cluster import KMeans

    if len(features) <= KMEANS_START_SAMPLE or restarts == 1:
        return KMeans(n_clusters=n_clusters, n_init=restarts, random_state=seed).fit_predict(features)
    sample = np.sort(np.random.default_rng(seed).choice(len(features), size=KMEANS_START_SAMPLE, replace=False))
    best = KMeans(n_clusters=n_clusters, n_init=restarts, random_state=seed).fit(features[sample]).cluster_centers_
    return KMeans(n_clusters=n_clusters, init=best, n_init=1, random_state=seed).fit_predict(features)


def interest_layer_scores(
    train: pl.DataFrame,
    content_topics: pl.DataFrame,
    centroids: Embeddings,
    user_ids: Sequence[str],
    items: Embeddings,
    layer_params: LayerParams = LayerParams(),
    membership_bonus: float = EvaluationParams().membership_bonus,
) -> np.ndarray:
    """Multi-interest scores from train-period interest layers.

    Layers come from :func:`interest_layers` (with ``layer_params``) over the train events
    mapped to subtopics (item events through the item's subtopic, comment events through the
    comment's, as the profiles do). For user u and item i::

        score(u, i) = max over u's subtopics s of share_long(u, s) * (cos(i, centroid_s) + bonus * [i in s])

    so each interest is matched on its own, not through one averaged vector. ``content_topics``
    has content_id, content_kind ('item'/'comment'), topic_id, subtopic_id; train events need
    event_id for comments. ``centroids``: the subtopics' ids and centroids. Users without any
    layer get 0 for every item.
    """
    interactions = topic_interactions(train, content_topics)
    n_users, n_items = len(user_ids), len(items.ids)
    if interactions.height == 0 or len(centroids.ids) == 0:
        return np.zeros((n_users, n_items))
    layers = interest_layers(interactions, layer_params)
    shares = layers.filter(pl.col("level") == "subtopic").select("user_id", "node_id", "share_long")
    share_matrix = share_rows(shares, user_ids, centroids.ids)
    return multi_interest_scores(
        share_matrix, subtopic_item_similarity(content_topics, centroids, items, membership_bonus)
    )


def share_rows(shares: pl.DataFrame, user_ids: Sequence[str], node_ids: Sequence[str]) -> np.ndarray:
    """users x nodes matrix of (user_id, node_id, share) rows; pairs of unknown users or nodes are left out."""
    node_position = {n: i for i, n in enumerate(node_ids)}
    user_position = {u: i for i, u in enumerate(user_ids)}
    matrix = np.zeros((len(user_ids), len(node_ids)))
    for user, node, share in shares.iter_rows():
        if user in user_position and node in node_position:
            matrix[user_position[user], node_position[node]] = share
    return matrix


def subtopic_item_similarity(
    content_topics: pl.DataFrame, centroids: Embeddings, items: Embeddings, membership_bonus: float
) -> np.ndarray:
    """subtopics x items: cos(item, centroid) plus ``membership_bonus`` where the item belongs to the subtopic."""
    node_position = {n: i for i, n in enumerate(centroids.ids)}
    similarity = l2_normalise(centroids.vectors).astype(np.float64) @ l2_normalise(items.vectors).T.astype(np.float64)
    item_subtopic = dict(
        content_topics.filter((pl.col("content_kind") == "item") & pl.col("subtopic_id").is_not_null())
        .select("content_id", "subtopic_id")
        .iter_rows()
    )
    for column, item in enumerate(items.ids):
        node = item_subtopic.get(item)
        if node in node_position:
            similarity[node_position[node], column] += membership_bonus
    return similarity


def multi_interest_scores(share_matrix: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    """users x items: max over the user's subtopics s (share > 0) of share[u, s] * similarity[s, i]; 0 without any."""
    return by_row_blocks(lambda shares: _multi_interest_scores(shares, similarity), (share_matrix,))


def _multi_interest_scores(share_matrix: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    n_users, n_items = share_matrix.shape[0], similarity.shape[1]
    best = np.full((n_users, n_items), -np.inf)
    for s in range(share_matrix.shape[1]):
        holders = share_matrix[:, s] > 0
        if holders.any():
            best[holders] = np.maximum(best[holders], share_matrix[holders, s : s + 1] * similarity[s][None, :])
    return np.where(np.isfinite(best), best, 0.0)


def topic_interactions(train: pl.DataFrame, content_topics: pl.DataFrame) -> pl.DataFrame:
    """Events with the topic and subtopic of their item or comment (rows without one dropped)."""
    topics = content_topics.filter(pl.col("subtopic_id").is_not_null()).select(
        "content_id", "content_kind", "topic_id", "subtopic_id"
    )
    columns = ["user_id", "event_type", "event_ts", "topic_id", "subtopic_id"]
    by_item = (
        train.filter(pl.col("item_id").is_not_null())
        .join(topics.filter(pl.col("content_kind") == "item"), left_on="item_id", right_on="content_id", how="inner")
        .select(columns)
    )
    parts = [by_item]
    if "event_id" in train.columns:
        parts.append(
            train.join(
                topics.filter(pl.col("content_kind") == "comment"),
                left_on="event_id",
                right_on="content_id",
                how="inner",
            ).select(columns)
        )
    return pl.concat(parts).sort("user_id", "event_ts", "subtopic_id", "event_type")
