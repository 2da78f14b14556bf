"""Profiles: per-user interest layers over the taxonomy, long- and short-term, tiered."""


import polars as pl
from dagster import Config, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.cold_start import POPULAR, with_fallback
from interest_pipeline.core.features import DEFAULT_EVENT_WEIGHTS
from interest_pipeline.core.layers import TierRules, interest_layers
from interest_pipeline.defs.features.assets import reference_time
from interest_pipeline.defs.conventions import WAREHOUSE_POOL, follow_new_data, stage_tags
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.warehouse import read_frame, replace_table

GROUP = "profiles"

# Item events count through the item's subtopic, texts (reviews, searches) through their own.
INTERACTIONS_SQL = """
WITH assignments AS (
    -- the last clustering, plus what arrived since and joined by nearest centroid
    SELECT content_id, content_kind, topic_id, subtopic_id FROM interest_topics
    UNION ALL
    SELECT content_id, content_kind, topic_id, subtopic_id FROM incremental_topic_assignments WHERE NOT is_noise
)
SELECT e.user_id, e.event_type, e.event_ts, t.topic_id, t.subtopic_id
FROM raw_behavior_logs e
JOIN assignments t ON t.content_kind = 'item' AND t.content_id = e.item_id
WHERE t.subtopic_id IS NOT NULL
UNION ALL
SELECT e.user_id, e.event_type, e.event_ts, t.topic_id, t.subtopic_id
FROM raw_behavior_logs e
JOIN assignments t ON t.content_kind = 'comment' AND t.content_id = e.event_id
WHERE t.subtopic_id IS NOT NULL
-- a fixed order makes the floating-point sums, and so re-runs, identical
ORDER BY user_id, event_ts, subtopic_id, event_type
"""


class LayerConfig(Config):
    long_half_life_days: float = Field(default=90.0, gt=0, description="Half-life of the long-term view, in days.")
    short_half_life_days: float = Field(default=7.0, gt=0, description="Half-life of the short-term view, in days.")
    core_min_share: float = Field(default=0.25, gt=0, le=1, description="Share of a user's weight that makes a node core (the top node is always core).")
    secondary_min_share: float = Field(default=0.08, gt=0, le=1, description="Share that makes a non-core node secondary; below it a node is peripheral.")
    max_core: int = Field(default=3, ge=1, description="At most this many core nodes per user and level.")
    trend_ratio: float = Field(default=2.0, gt=1, description="Short/long share ratio that marks a node emerging (or, inverted, fading).")
    event_weights: dict[str, float] = Field(default=dict(DEFAULT_EVENT_WEIGHTS), description="Weight of one event of each type.")
    popular_fallback_nodes: int = Field(
        default=3, ge=1, description="Users with nothing placed in the taxonomy get this many of the most popular topics and subtopics (source 'popular')."
    )


@asset(
    pool=WAREHOUSE_POOL,
    deps=["raw_behavior_logs", "interest_topics", "incremental_topic_assignments", "fused_user_features"],
    group_name=GROUP, tags=stage_tags(GROUP), automation_condition=follow_new_data,
    kinds={"duckdb", "polars"},
    description="Per user, weights over topics and subtopics from their time-decayed activity, with a long-term "
    "and a short-term view, each tiered into core / secondary / peripheral (rules in the README). Users with nothing "
    "placed in the taxonomy get the most popular topics and subtopics instead, marked source = 'popular'.",
)
def user_interest_layers(config: LayerConfig, warehouse: DuckDBResource) -> MaterializeResult:
    rules = TierRules(config.core_min_share, config.secondary_min_share, config.max_core, config.trend_ratio)
    with warehouse.get_connection() as conn:
        reference_ts = reference_time(conn)
        interactions = read_frame(conn, INTERACTIONS_SQL)
        users = read_frame(conn, "SELECT user_id, is_cold_start FROM fused_user_features")
    own_layers = interest_layers(interactions, reference_ts, config.long_half_life_days, config.short_half_life_days, rules, config.event_weights)
    layers = (
        with_fallback(own_layers, users["user_id"].to_list(), config.popular_fallback_nodes)
        .join(users, on="user_id", how="left")
        .with_columns(pl.col("is_cold_start").fill_null(True))
    )
    with warehouse.get_connection() as conn:
        replace_table(conn, "user_interest_layers", layers)
    subtopic_rows = layers.filter((pl.col("level") == "subtopic") & (pl.col("source") != POPULAR))
    tiers = subtopic_rows.group_by("tier_long").agg(pl.len().alias("rows"), pl.col("user_id").n_unique().alias("users")).sort("tier_long")
    users_with_layers = layers["user_id"].n_unique()
    return MaterializeResult(
        metadata={
            "dagster/row_count": layers.height,
            "users_with_layers": users_with_layers,
            "users_on_popular_fallback": layers.filter(pl.col("source") == POPULAR)["user_id"].n_unique(),
            "mean_core_subtopics": round(subtopic_rows.filter(pl.col("tier_long") == "core").group_by("user_id").len()["len"].mean() or 0.0, 2),
            "subtopic_tiers_long": MetadataValue.md(markdown_table(tiers)),
            "users_with_emerging_subtopic": int(subtopic_rows.filter(pl.col("trend") == "emerging")["user_id"].n_unique()),
            "mean_subtopic_drift_score": round(float(subtopic_rows.group_by("user_id").agg(pl.col("drift_score").first())["drift_score"].mean() or 0.0), 3),
            "reference_ts": str(reference_ts),
            "preview": MetadataValue.md(markdown_table(layers.head(12))),
        }
    )
