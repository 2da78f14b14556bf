"""Profiles: per-user interest layers over the taxonomy, long- and short-term, tiered."""


import polars as pl
from dagster import Config, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.catalogue_coverage import with_fallback_reason
from interest_pipeline.core.cold_start import POPULAR, with_fallback
from interest_pipeline.core.layers import LayerParams, TierRules, interest_layers
from interest_pipeline.defs.conventions import WAREHOUSE_POOL, follow_new_data, stage_tags
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.params import as_record, params_from_config
from interest_pipeline.defs.shared import INTERACTIONS_SQL, reference_time
from interest_pipeline.defs.warehouse import read_frame, replace_table, users_only_on_uncatalogued_items

GROUP = "profiles"
_LAYERS, _TIERS = LayerParams(), TierRules()


class LayerConfig(Config):
    long_half_life_days: float = Field(default=_LAYERS.long_half_life_days, gt=0, description="Half-life of the long-term view, in days.")
    short_half_life_days: float = Field(default=_LAYERS.short_half_life_days, gt=0, description="Half-life of the short-term view, in days.")
    core_min_share: float = Field(default=_TIERS.core_min_share, gt=0, le=1, description="Share of a user's weight that makes a node core (the top node is always core).")
    secondary_min_share: float = Field(default=_TIERS.secondary_min_share, gt=0, le=1, description="Share that makes a non-core node secondary; below it a node is peripheral.")
    max_core: int = Field(default=_TIERS.max_core, ge=1, description="At most this many core nodes per user and level.")
    trend_ratio: float = Field(default=_TIERS.trend_ratio, gt=1, description="Short/long share ratio that marks a node emerging (or, inverted, fading).")
    event_weights: dict[str, float] = Field(default=dict(_LAYERS.event_weights), description="Weight of one event of each type.")
    popular_fallback_nodes: int = Field(
        default=_LAYERS.popular_fallback_nodes, ge=1,
        description="Users with nothing placed in the taxonomy get this many of the most popular topics and subtopics (source 'popular').",
    )

    def params(self) -> LayerParams:
        return params_from_config(self, LayerParams, tiers=params_from_config(self, TierRules))


@asset(
    pool=WAREHOUSE_POOL,
    deps=["raw_behavior_logs", "interest_topics", "incremental_topic_assignments", "fused_user_features"],
    group_name=GROUP, tags=stage_tags(GROUP), automation_condition=follow_new_data,
    kinds={"duckdb", "polars"},
    description="Per user, weights over topics and subtopics from their time-decayed activity, with a long-term "
    "and a short-term view, each tiered into core / secondary / peripheral (rules in the README). Users with nothing "
    "placed in the taxonomy get the most popular topics and subtopics instead, marked source = 'popular', with the reason in "
    "fallback_reason (cold_start, items_not_in_catalogue: every item event is on an item missing from item_catalog, or nothing_placed).",
)
def user_interest_layers(config: LayerConfig, warehouse: DuckDBResource) -> MaterializeResult:
    params = config.params()
    with warehouse.get_connection() as conn:
        reference_ts = reference_time(conn)
        interactions = read_frame(conn, INTERACTIONS_SQL)
        users = read_frame(conn, "SELECT user_id, is_cold_start FROM fused_user_features")
        only_unknown_items = users_only_on_uncatalogued_items(conn)
    own_layers = interest_layers(interactions, reference_ts, params)
    layers = with_fallback_reason(
        with_fallback(own_layers, users["user_id"].to_list(), params.popular_fallback_nodes)
        .join(users, on="user_id", how="left")
        .with_columns(pl.col("is_cold_start").fill_null(True)),
        only_unknown_items,
    )
    with warehouse.get_connection() as conn:
        replace_table(conn, "user_interest_layers", layers, as_record(params))
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
