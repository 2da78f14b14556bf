"""User features: time decay, behaviour vectors (X_u), text vectors (X_t) and their fusion."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import scipy.sparse as sp

from interest_pipeline.core.common.vectors import l2_normalise
from interest_pipeline.core.features.decayed_sums import DecayedSums
from interest_pipeline.core.ingest.event_schema import EVENT_TYPES

# How much one event of each type says about an interest; stronger commitments weigh more.
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "search": 2.0,
    "favorite": 4.0,
    "add_to_cart": 4.0,
    "rate": 3.0,
    "review": 5.0,
    "purchase": 6.0,
}


def _default_event_weights() -> dict[str, float]:
    return dict(DEFAULT_EVENT_WEIGHTS)


@dataclass(frozen=True)
class BehaviorParams:
    """How X_u is built: the time decay of an event's weight and the weight of each event type."""

    half_life_days: float = 30.0
    event_weights: Mapping[str, float] = field(default_factory=_default_event_weights)

    def __post_init__(self) -> None:
        if self.half_life_days <= 0:
            raise ValueError(f"half_life_days must be positive, got {self.half_life_days}")


@dataclass(frozen=True)
class TextParams:
    """How X_t is built: the time decay of a text's weight."""

    half_life_days: float = 30.0

    def __post_init__(self) -> None:
        if self.half_life_days <= 0:
            raise ValueError(f"half_life_days must be positive, got {self.half_life_days}")


@dataclass(frozen=True)
class FusionParams:
    """X = alpha * X_u + (1 - alpha) * X_t; users with fewer than ``min_events`` events are cold-start."""

    alpha: float = 0.6
    min_events: int = 3

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.min_events < 1:
            raise ValueError(f"min_events must be at least 1, got {self.min_events}")


@dataclass(frozen=True)
class UserFeatureParams:
    """Everything the fused vector X is built with. A consumer that rebuilds X as of another time
    (the take-up models, the hold-out) must build it as ``fused_user_features`` did."""

    behavior: BehaviorParams = field(default_factory=BehaviorParams)
    text: TextParams = field(default_factory=TextParams)
    fusion: FusionParams = field(default_factory=FusionParams)


@dataclass(frozen=True)
class Embeddings:
    """Ids with their vectors: row i of ``vectors`` belongs to ``ids[i]``."""

    ids: list[str]
    vectors: np.ndarray

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.vectors):
            raise ValueError(f"{len(self.ids)} ids but {len(self.vectors)} vectors")

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0


@dataclass(frozen=True)
class TextEmbeddings:
    """Users' texts (reviews, searches): ``rows`` has user_id and event_ts, aligned with ``vectors``."""

    rows: pl.DataFrame
    vectors: np.ndarray

    def __post_init__(self) -> None:
        if self.rows.height != len(self.vectors):
            raise ValueError(f"{self.rows.height} text rows but {len(self.vectors)} vectors")

    def before(self, ts: dt.datetime) -> TextEmbeddings:
        if self.rows.height == 0:
            return self
        earlier = (
            self.rows.select(pl.col("event_ts") < pl.lit(ts, dtype=self.rows.schema["event_ts"])).to_series().to_numpy()
        )
        return TextEmbeddings(self.rows.filter(pl.Series(earlier)), self.vectors[earlier])


@dataclass(frozen=True)
class UserHistory:
    """What user vectors are built from: events (user_id, item_id, event_type, event_ts), the users'
    texts and the items' embeddings."""

    events: pl.DataFrame
    texts: TextEmbeddings
    items: Embeddings

    def before(self, ts: dt.datetime) -> UserHistory:
        """Events and texts strictly before ``ts``."""
        events = self.events.filter(pl.col("event_ts") < pl.lit(ts, dtype=self.events.schema["event_ts"]))
        return UserHistory(events, self.texts.before(ts), self.items)


def decay_from_latest(event_ts: pl.Series, user_ids: pl.Series, half_life_days: float) -> np.ndarray:
    """Time decay measured from each user's own latest event (rows aligned with ``user_ids``).

    A user's vector is a weighted mean, so measuring the age from a later reference would scale
    all of the user's weights alike and change nothing, except that decades-old events would
    underflow to zero. Measured from the user's latest event, a user without new events keeps
    exactly the vector they had, which is what lets the daily update leave them alone.
    """
    if half_life_days <= 0:
        raise ValueError(f"half_life_days must be positive, got {half_life_days}")
    frame = pl.DataFrame({"user_id": user_ids, "event_ts": event_ts.cast(pl.Datetime("us"))})
    ages = (
        frame.select(
            ((pl.col("event_ts").max().over("user_id") - pl.col("event_ts")) / dt.timedelta(days=1)).alias("age")
        )
        .to_series()
        .to_numpy()
    )
    return np.power(0.5, ages / half_life_days)


def weighted_group_sums(group_index: np.ndarray, n_groups: int, vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per group, the weighted sum of its rows' vectors (float64)."""
    membership = sp.csr_matrix(
        (weights.astype(np.float64), (group_index, np.arange(len(group_index)))), shape=(n_groups, len(group_index))
    )
    return np.asarray(membership @ vectors.astype(np.float64))


def activity_statistics(events: pl.DataFrame, reference_ts: dt.datetime) -> pl.DataFrame:
    """Per user: events per type, total, active days, first/last event and recency in days."""
    counts = (
        events.group_by("user_id", "event_type")
        .len()
        .pivot(on="event_type", index="user_id", values="len")
        .fill_null(0)
    )
    for event_type in EVENT_TYPES:
        if event_type not in counts.columns:
            counts = counts.with_columns(pl.lit(0, dtype=pl.UInt32).alias(event_type))
    counts = counts.select("user_id", *[pl.col(t).cast(pl.Int64).alias(f"n_{t}") for t in EVENT_TYPES])
    summary = events.group_by("user_id").agg(
        pl.len().cast(pl.Int64).alias("n_events"),
        pl.col("event_ts").dt.date().n_unique().cast(pl.Int64).alias("active_days"),
        pl.col("event_ts").min().alias("first_event_ts"),
        pl.col("event_ts").max().alias("last_event_ts"),
    )
    return (
        summary.join(counts, on="user_id", how="left")
        .with_columns(((pl.lit(reference_ts) - pl.col("last_event_ts")) / dt.timedelta(days=1)).alias("recency_days"))
        .sort("user_id")
    )


def add_activity_statistics(stored: pl.DataFrame, new_events: pl.DataFrame, reference_ts: dt.datetime) -> pl.DataFrame:
    """:func:`activity_statistics` of the stored users' events and ``new_events`` together, from
    the stored statistics and the new events alone. Every new event must be later than its
    user's stored ``last_event_ts``, so that at most the stored last day is counted twice."""
    new = activity_statistics(new_events, reference_ts)
    joined = stored.join(new, on="user_id", how="inner", suffix="_new")
    if joined.height != new.height:
        raise ValueError("new events of users without stored statistics")
    if joined.filter(pl.col("first_event_ts_new") <= pl.col("last_event_ts")).height:
        raise ValueError("a new event is not later than its user's stored last event")
    stored_last_day_again = (
        new_events.join(stored.select("user_id", "last_event_ts"), on="user_id")
        .group_by("user_id")
        .agg(
            (pl.col("event_ts").dt.date() == pl.col("last_event_ts").dt.date())
            .any()
            .cast(pl.Int64)
            .alias("repeated_day")
        )
    )
    counts = ["n_events", *[f"n_{t}" for t in EVENT_TYPES]]
    return (
        joined.join(stored_last_day_again, on="user_id")
        .select(
            "user_id",
            *[(pl.col(c) + pl.col(f"{c}_new")).alias(c) for c in counts],
            (pl.col("active_days") + pl.col("active_days_new") - pl.col("repeated_day")).alias("active_days"),
            "first_event_ts",
            pl.col("last_event_ts_new").alias("last_event_ts"),
            "recency_days_new",
        )
        .rename({"recency_days_new": "recency_days"})
        .select(new.columns)
        .sort("user_id")
    )


def event_type_weights(event_types: pl.Series, weights: dict[str, float]) -> np.ndarray:
    unknown = set(event_types.unique().to_list()) - set(weights)
    if unknown:
        raise ValueError(f"no weight configured for event type(s) {sorted(unknown)}")
    return event_types.replace_strict(weights, return_dtype=pl.Float64).to_numpy()


def user_behavior_sums(
    item_events: pl.DataFrame,
    item_ids: list[str],
    item_vectors: np.ndarray,
    half_life_days: float,
    weights: dict[str, float] = DEFAULT_EVENT_WEIGHTS,
) -> DecayedSums:
    """Per user (sorted), the decayed (from the user's latest event on an embedded item),
    event-type-weighted sum of the embeddings of items they touched; its direction is X_u.

    ``item_events`` has user_id, item_id, event_type, event_ts; events on items without an
    embedding are ignored.
    """
    position = {item_id: i for i, item_id in enumerate(item_ids)}
    known = item_events.filter(pl.col("item_id").is_in(item_ids)).sort("user_id", "event_ts", "item_id", "event_type")
    if known.height == 0:
        return DecayedSums([], np.zeros((0, item_vectors.shape[1])), np.zeros(0, dtype="datetime64[us]"))
    users = known["user_id"].unique(maintain_order=True).to_list()
    user_index = known["user_id"].rank("dense").cast(pl.Int64).to_numpy() - 1
    rows = known["item_id"].replace_strict(position, return_dtype=pl.Int64).to_numpy()
    weight = event_type_weights(known["event_type"], weights) * decay_from_latest(
        known["event_ts"], known["user_id"], half_life_days
    )
    # users x items weights times the item vectors: memory grows with users and items, not
    # with events (one 384-d row per event would cost gigabytes at millions of events)
    user_item = sp.csr_matrix((weight, (user_index, rows)), shape=(len(users), len(item_ids)))
    return DecayedSums(
        users,
        np.asarray(user_item @ item_vectors.astype(np.float64)),
        _latest_per_group(known["event_ts"], user_index, len(users)),
    )


def user_behavior_vectors(
    item_events: pl.DataFrame,
    item_ids: list[str],
    item_vectors: np.ndarray,
    half_life_days: float,
    weights: dict[str, float] = DEFAULT_EVENT_WEIGHTS,
) -> tuple[list[str], np.ndarray]:
    """X_u: the users (sorted) and the unit vectors of :func:`user_behavior_sums`."""
    sums = user_behavior_sums(item_events, item_ids, item_vectors, half_life_days, weights)
    return sums.keys, sums.unit_vectors


def user_text_sums(comments: pl.DataFrame, vectors: np.ndarray, half_life_days: float) -> DecayedSums:
    """Per user (sorted), the decayed (from the user's latest text) sum of their comment
    embeddings (rows aligned with ``comments``); its direction is X_t."""
    if comments.height == 0:
        return DecayedSums([], np.zeros((0, vectors.shape[1])), np.zeros(0, dtype="datetime64[us]"))
    order = np.lexsort((np.arange(comments.height), comments["user_id"].to_numpy()))
    ordered = comments[order]
    users = ordered["user_id"].unique(maintain_order=True).to_list()
    user_index = ordered["user_id"].rank("dense").cast(pl.Int64).to_numpy() - 1
    weight = decay_from_latest(ordered["event_ts"], ordered["user_id"], half_life_days)
    return DecayedSums(
        users,
        weighted_group_sums(user_index, len(users), vectors[order], weight),
        _latest_per_group(ordered["event_ts"], user_index, len(users)),
    )


def user_text_vectors(
    comments: pl.DataFrame, vectors: np.ndarray, half_life_days: float
) -> tuple[list[str], np.ndarray]:
    """X_t: the users (sorted) and the unit vectors of :func:`user_text_sums`."""
    sums = user_text_sums(comments, vectors, half_life_days)
    return sums.keys, sums.unit_vectors


def _latest_per_group(event_ts: pl.Series, group_index: np.ndarray, n_groups: int) -> np.ndarray:
    latest = np.full(n_groups, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(
        latest, group_index, event_ts.cast(pl.Datetime("us")).to_numpy().astype("datetime64[us]").astype(np.int64)
    )
    return latest.astype("datetime64[us]")


def align_vectors(users: Sequence[str], vectors: np.ndarray, user_ids: Sequence[str], dim: int) -> np.ndarray:
    """Rows of ``vectors`` (for ``users``) reordered to ``user_ids``; zeros for users without one."""
    out = np.zeros((len(user_ids), dim), dtype=np.float64)
    position = {u: i for i, u in enumerate(users)}
    for row, user in enumerate(user_ids):
        if user in position:
            out[row] = vectors[position[user]]
    return out


def fuse_user_vectors(
    behavior: np.ndarray, has_behavior: np.ndarray, text: np.ndarray, has_text: np.ndarray, alpha: float
) -> np.ndarray:
    """X = alpha * X_u + (1 - alpha) * X_t, renormalised; a user missing one side gets the other."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    a = np.where(has_behavior & has_text, alpha, np.where(has_behavior, 1.0, 0.0))[:, None]
    return l2_normalise(a * behavior + (1.0 - a) * text)


def fused_vectors(
    history: UserHistory, params: UserFeatureParams = UserFeatureParams()
) -> tuple[list[str], np.ndarray]:
    """Users (sorted) and their fused vectors X from ``history`` (cut it with :meth:`UserHistory.before`
    for another time), built as ``fused_user_features`` builds them."""
    item_events = history.events.filter(pl.col("item_id").is_not_null()).select(
        "user_id", "item_id", "event_type", "event_ts"
    )
    items = history.items
    behavior_users, behavior = user_behavior_vectors(
        item_events, list(items.ids), items.vectors, params.behavior.half_life_days, params.behavior.event_weights
    )
    text_users, text = user_text_vectors(history.texts.rows, history.texts.vectors, params.text.half_life_days)
    users = sorted(set(behavior_users) | set(text_users))
    dim = items.dim
    x_u, x_t = align_vectors(behavior_users, behavior, users, dim), align_vectors(text_users, text, users, dim)
    has_u, has_t = np.isin(users, behavior_users), np.isin(users, text_users)
    return users, fuse_user_vectors(x_u, has_u, x_t, has_t, params.fusion.alpha)
