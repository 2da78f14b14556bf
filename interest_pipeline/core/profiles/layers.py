"""Per-user interest layers: decayed weights over topics and subtopics, tiered.

Tier rules, applied per user, per level (topic / subtopic) and per view (long / short term),
to each node's share of the user's decayed interest weight at that level:

- core: share >= ``core_min_share``, at most ``max_core`` nodes (highest shares first); the
  user's top node is always core so that every active user has a core interest;
- secondary: not core and share >= ``secondary_min_share``;
- peripheral: any other node with a positive share.

Ages are measured from the user's own latest event: the layers describe a user's interests as
of their last visit, so a user without new events keeps the layers they had (and the daily update
need not touch them), and a user who comes back after a year is not a user without interests.

The short-term view counts an event by its age in days and by its rank among the user's
events (0 for the most recent), whichever is larger: ``w * max(0.5 ** (age / short_half_life_days),
0.5 ** (rank / short_half_life_events))``. A user whose events are months apart still has a
short-term view made of their latest events, not one set by whichever event is a few days newer.

Drift, per node, compares the two views: **emerging** when the short-term share is at least
``secondary_min_share`` and at least ``trend_ratio`` times the long-term share; **fading**
when the long-term share is at least ``secondary_min_share`` and the short-term share at most
1 / ``trend_ratio`` of it; **stable** otherwise. Per user and level, ``drift_score`` is the
total variation distance between the short- and long-term shares (0 = same interests,
1 = entirely new ones).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from interest_pipeline.core.features.user_features import DEFAULT_EVENT_WEIGHTS

# The tiers that count as a user's own interests (peripheral ones are weak signals).
ENGAGED_TIERS = ("core", "secondary")


@dataclass(frozen=True)
class TierRules:
    core_min_share: float = 0.25
    secondary_min_share: float = 0.08
    max_core: int = 3
    trend_ratio: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.secondary_min_share <= self.core_min_share <= 1:
            raise ValueError("need 0 < secondary_min_share <= core_min_share <= 1")
        if self.max_core < 1:
            raise ValueError("max_core must be at least 1")
        if self.trend_ratio <= 1:
            raise ValueError("trend_ratio must be above 1")


@dataclass(frozen=True)
class LayerParams:
    """How the layers are built: the two views' half-lives, the tier rules, the event weights, and
    how many popular nodes a user with nothing placed in the taxonomy gets."""

    long_half_life_days: float = 90.0
    short_half_life_days: float = 7.0
    short_half_life_events: float = 3.0  # the short-term view also keeps the latest events, by rank
    tiers: TierRules = field(default_factory=TierRules)
    event_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    popular_fallback_nodes: int = 3

    def __post_init__(self) -> None:
        if self.long_half_life_days <= 0 or self.short_half_life_days <= 0 or self.short_half_life_events <= 0:
            raise ValueError("half-lives must be positive")
        if self.popular_fallback_nodes < 1:
            raise ValueError("popular_fallback_nodes must be at least 1")


def recency_rank(order_columns: tuple[str, ...] = ("event_ts", "topic_id", "subtopic_id", "event_type")) -> pl.Expr:
    """Per user, 0 for the most recent event, 1 for the one before, ...; events at one instant
    are ordered by the other columns, so that the ranks never depend on the row order."""
    return pl.struct(*order_columns).rank("ordinal", descending=True).over("user_id").cast(pl.Float64) - 1.0


def _stable_sum(column: str) -> pl.Expr:
    """Sum in sorted order: parallel group-bys see rows in a thread-dependent order, and
    floating-point sums in a different order differ in the last bits between re-runs."""
    return _stable_sum_expr(pl.col(column))


def _stable_sum_expr(expression: pl.Expr) -> pl.Expr:
    return expression.sort().sum()


def _tier(share: str, rank: str, rules: TierRules) -> pl.Expr:
    return (
        pl.when(pl.col(share).is_null() | (pl.col(share) <= 0))
        .then(None)
        .when((pl.col(rank) == 1) | ((pl.col(share) >= rules.core_min_share) & (pl.col(rank) <= rules.max_core)))
        .then(pl.lit("core"))
        .when(pl.col(share) >= rules.secondary_min_share)
        .then(pl.lit("secondary"))
        .otherwise(pl.lit("peripheral"))
    )


_LAYER_VALUES = ("weight_long", "weight_short", "n_interactions", "last_interaction_ts")


def interest_layers(interactions: pl.DataFrame, params: LayerParams = LayerParams()) -> pl.DataFrame:
    """Layers from ``interactions`` (user_id, event_type, event_ts, topic_id, subtopic_id).

    One row per user, level and node the user touched, with long- and short-term weights,
    shares, ranks and tiers (``popular_fallback_nodes`` is :mod:`interest_pipeline.core.profiles.cold_start`'s).
    """
    rules = params.tiers
    age_days = (pl.col("event_ts").max().over("user_id") - pl.col("event_ts")) / dt.timedelta(days=1)

    def decay(half_life: float) -> pl.Expr:
        return pl.lit(0.5).pow(pl.col("_age") / half_life)

    weighted = (
        interactions.lazy()
        .with_columns(
            pl.col("event_type").replace_strict(dict(params.event_weights), return_dtype=pl.Float64).alias("_w"),
            age_days.alias("_age"),
            recency_rank().alias("_rank"),
        )
        .select(
            "user_id",
            "topic_id",
            "subtopic_id",
            "event_ts",
            (pl.col("_w") * decay(params.long_half_life_days)).alias("_long"),
            (
                pl.col("_w")
                * pl.max_horizontal(
                    decay(params.short_half_life_days), pl.lit(0.5).pow(pl.col("_rank") / params.short_half_life_events)
                )
            ).alias("_short"),
        )
        # materialised: the group-bys below must run on a frame, where _stable_sum is stable (in one
        # lazy query with the steps above the sums came out in a thread-dependent order)
        .collect()
    )
    # One pass over the events per (user, topic, subtopic); the topic level adds those partial sums
    # up (in sorted order, as _stable_sum does), which costs a fraction of a second pass over the events.
    partial = weighted.group_by("user_id", "topic_id", "subtopic_id").agg(
        _stable_sum("_long").alias("weight_long"),
        _stable_sum("_short").alias("weight_short"),
        pl.len().cast(pl.Int64).alias("n_interactions"),
        pl.col("event_ts").max().alias("last_interaction_ts"),
    )
    topics = (
        partial.filter(pl.col("topic_id").is_not_null())
        .group_by("user_id", "topic_id")
        .agg(
            _stable_sum("weight_long").alias("weight_long"),
            _stable_sum("weight_short").alias("weight_short"),
            pl.col("n_interactions").sum(),
            pl.col("last_interaction_ts").max(),
        )
        .select(
            "user_id",
            pl.lit("topic").alias("level"),
            pl.col("topic_id").alias("node_id"),
            pl.lit("root").alias("parent_id"),
            *_LAYER_VALUES,
        )
    )
    subtopics = partial.filter(pl.col("subtopic_id").is_not_null()).select(
        "user_id",
        pl.lit("subtopic").alias("level"),
        pl.col("subtopic_id").alias("node_id"),
        pl.col("topic_id").alias("parent_id"),
        *_LAYER_VALUES,
    )
    by_level = ["user_id", "level"]
    layers = pl.concat([topics, subtopics]).lazy()
    for view in ("long", "short"):
        layers = (
            layers.with_columns(
                (pl.col(f"weight_{view}") / _stable_sum(f"weight_{view}").over(by_level)).alias(f"share_{view}")
            )
            .with_columns(
                pl.struct(pl.col(f"share_{view}").neg(), pl.col("node_id"))
                .rank("ordinal")
                .over(by_level)
                .cast(pl.Int64)
                .alias(f"rank_{view}")
            )
            .with_columns(_tier(f"share_{view}", f"rank_{view}", rules).alias(f"tier_{view}"))
        )
    layers = layers.with_columns(
        pl.when(
            (pl.col("share_short") >= rules.secondary_min_share)
            & (pl.col("share_short") >= rules.trend_ratio * pl.col("share_long"))
        )
        .then(pl.lit("emerging"))
        .when(
            (pl.col("share_long") >= rules.secondary_min_share)
            & (pl.col("share_short") * rules.trend_ratio <= pl.col("share_long"))
        )
        .then(pl.lit("fading"))
        .otherwise(pl.lit("stable"))
        .alias("trend"),
        (0.5 * _stable_sum_expr((pl.col("share_short") - pl.col("share_long")).abs()).over(by_level)).alias(
            "drift_score"
        ),
    )
    return layers.sort("user_id", "level", "rank_long").collect()
