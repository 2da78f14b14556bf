"""Profiles: per-user interest layers over the taxonomy, long- and short-term, tiered.

Kept incrementally: after a new day only the users whose placed interactions (or cold-start or
catalogue status) changed get new layers; the popular fallback rows, which depend on everyone's
layers, are rebuilt whole each time (they are a few rows per user without layers).
"""

import polars as pl
from dagster import MaterializeResult, MetadataValue
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.ingest.catalogue_coverage import with_fallback_reason
from interest_pipeline.core.profiles.cold_start import ACTIVITY, POPULAR, popular_layers
from interest_pipeline.core.profiles.layers import LayerParams, TierRules, interest_layers
from interest_pipeline.defs.conventions import follow_new_data, warehouse_asset
from interest_pipeline.defs.incremental import (
    RebuildConfig,
    find_changes,
    key_fingerprint,
    read_for_changes,
    row_hash,
    store_changes,
)
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.params import as_record, params_from_config
from interest_pipeline.defs.shared import INTERACTIONS_UNORDERED_SQL, LAYERS_TABLE
from interest_pipeline.defs.warehouse import read_frame, users_only_on_uncatalogued_items

_LAYERS, _TIERS = LayerParams(), TierRules()

# Per user, what their layers are built from: the placed interactions, the cold-start flag and
# whether every item event is on an uncatalogued item (both decide the fallback reason).
_INPUTS_SQL = f"""
SELECT user_id AS key, hash(i.fingerprint, u.is_cold_start, o.user_id IS NOT NULL) AS fingerprint
FROM (SELECT user_id, {key_fingerprint(row_hash(["event_type", "event_ts", "topic_id", "subtopic_id"]))} AS fingerprint
      FROM _interactions GROUP BY user_id) i
FULL JOIN _layer_users u USING (user_id)
LEFT JOIN _only_unknown_items o USING (user_id)
"""


class LayerConfig(RebuildConfig):
    long_half_life_days: float = Field(
        default=_LAYERS.long_half_life_days, gt=0, description="Half-life of the long-term view, in days."
    )
    short_half_life_days: float = Field(
        default=_LAYERS.short_half_life_days, gt=0, description="Half-life of the short-term view, in days."
    )
    core_min_share: float = Field(
        default=_TIERS.core_min_share,
        gt=0,
        le=1,
        description="Share of a user's weight that makes a node core (the top node is always core).",
    )
    secondary_min_share: float = Field(
        default=_TIERS.secondary_min_share,
        gt=0,
        le=1,
        description="Share that makes a non-core node secondary; below it a node is peripheral.",
    )
    max_core: int = Field(default=_TIERS.max_core, ge=1, description="At most this many core nodes per user and level.")
    trend_ratio: float = Field(
        default=_TIERS.trend_ratio,
        gt=1,
        description="Short/long share ratio that marks a node emerging (or, inverted, fading).",
    )
    event_weights: dict[str, float] = Field(
        default=dict(_LAYERS.event_weights), description="Weight of one event of each type."
    )
    popular_fallback_nodes: int = Field(
        default=_LAYERS.popular_fallback_nodes,
        ge=1,
        description="Users with nothing placed in the taxonomy get this many of the most popular topics and subtopics (source 'popular').",
    )

    def params(self) -> LayerParams:
        return params_from_config(self, LayerParams, tiers=params_from_config(self, TierRules))


_POPULARITY_COLUMNS = ["user_id", "level", "node_id", "parent_id", "tier_long"]


def _kept_for_popularity(conn, changes) -> pl.DataFrame:
    """What the popular fallback is ranked over, of the users not rebuilt: their stored own layers."""
    conn.register(
        "_rebuilt",
        pl.DataFrame({"user_id": pl.concat([changes.changed, changes.removed])}, schema={"user_id": pl.String}),
    )
    try:
        return read_frame(
            conn,
            f"SELECT {', '.join(_POPULARITY_COLUMNS)} FROM {LAYERS_TABLE} ANTI JOIN _rebuilt USING (user_id) WHERE source = '{ACTIVITY}'",
        )
    finally:
        conn.unregister("_rebuilt")


def _layer_summary(conn) -> dict:
    """The metadata of the whole stored table (an update writes only part of it), aggregated in DuckDB."""
    own_subtopics = f"FROM {LAYERS_TABLE} WHERE level = 'subtopic' AND source <> '{POPULAR}'"
    rows, users, on_popular = conn.execute(
        f"SELECT count(*), count(DISTINCT user_id), count(DISTINCT user_id) FILTER (source = '{POPULAR}') FROM {LAYERS_TABLE}"
    ).fetchone()
    mean_core, emerging, mean_drift = conn.execute(
        f"""SELECT
            (SELECT avg(n) FROM (SELECT count(*) AS n {own_subtopics} AND tier_long = 'core' GROUP BY user_id)),
            (SELECT count(DISTINCT user_id) {own_subtopics} AND trend = 'emerging'),
            (SELECT avg(drift) FROM (SELECT any_value(drift_score) AS drift {own_subtopics} GROUP BY user_id))"""
    ).fetchone()
    tiers = read_frame(
        conn,
        f"SELECT tier_long, count(*) AS rows, count(DISTINCT user_id) AS users {own_subtopics} GROUP BY tier_long ORDER BY tier_long NULLS FIRST",
    )
    return {
        "dagster/row_count": rows,
        "users_with_layers": users,
        "users_on_popular_fallback": on_popular,
        "mean_core_subtopics": round(mean_core or 0.0, 2),
        "subtopic_tiers_long": MetadataValue.md(markdown_table(tiers)),
        "users_with_emerging_subtopic": emerging,
        "mean_subtopic_drift_score": round(float(mean_drift or 0.0), 3),
    }


@warehouse_asset(
    deps=["raw_behavior_logs", "interest_topics", "incremental_topic_assignments", "fused_user_features"],
    automation_condition=follow_new_data,
    kinds={"polars"},
    description="Per user, weights over topics and subtopics from their time-decayed activity, with a long-term "
    "and a short-term view, each tiered into core / secondary / peripheral (rules in the README). Users with nothing "
    "placed in the taxonomy get the most popular topics and subtopics instead, marked source = 'popular', with the reason in "
    "fallback_reason (cold_start, items_not_in_catalogue: every item event is on an item missing from item_catalog, or nothing_placed).",
)
def user_interest_layers(config: LayerConfig, warehouse: DuckDBResource) -> MaterializeResult:
    params = config.params()
    with warehouse.get_connection() as conn:
        users = read_frame(conn, "SELECT user_id, is_cold_start FROM fused_user_features")
        only_unknown_items = users_only_on_uncatalogued_items(conn)
        conn.execute(f"CREATE OR REPLACE TEMP TABLE _interactions AS {INTERACTIONS_UNORDERED_SQL}")
        conn.register("_layer_users", users)
        conn.register("_only_unknown_items", only_unknown_items.to_frame("user_id"))
        fingerprints = read_frame(conn, _INPUTS_SQL)
        conn.unregister("_layer_users")
        conn.unregister("_only_unknown_items")
        changes = find_changes(conn, LAYERS_TABLE, fingerprints, {"parameters": as_record(params)}, config.full_refresh)
        # unordered: interest_layers does not depend on the row order
        interactions = read_for_changes(conn, "SELECT * FROM _interactions {only_changed}", changes)
        kept = None if changes.full else _kept_for_popularity(conn, changes)
    rebuilt = interest_layers(interactions, params).with_columns(pl.lit(ACTIVITY).alias("source"))
    ranked_over = (
        rebuilt.select(_POPULARITY_COLUMNS)
        if kept is None
        else pl.concat([kept, rebuilt.select(_POPULARITY_COLUMNS)], how="vertical_relaxed")
    )
    # every user without own layers gets the popular rows (rewritten whole: popularity moves with everyone's layers)
    popular = popular_layers(ranked_over, users["user_id"].to_list(), params.popular_fallback_nodes)
    popular = popular.cast({c: t for c, t in rebuilt.schema.items() if c in popular.columns}).select(rebuilt.columns)
    written = with_fallback_reason(
        pl.concat([rebuilt, popular])
        .join(users, on="user_id", how="left")
        .with_columns(pl.col("is_cold_start").fill_null(True)),
        only_unknown_items,
    ).sort("user_id", "level", "rank_long")
    with warehouse.get_connection() as conn:
        store_changes(conn, changes, written, "user_id", as_record(params), replace_where=f"source = '{POPULAR}'")
        summary = _layer_summary(conn)
    return MaterializeResult(
        metadata={
            **summary,
            **changes.summary,
            "preview": MetadataValue.md(markdown_table(written.head(12))),
        }
    )
