"""item_recommendations: the shipped ranker applied to every user, each item with the interest it serves."""

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
)
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.evaluation.scoring_methods import Taxonomy
from interest_pipeline.core.recommendation.item_recommendations import SERVES, SOURCES, TOP_N, recommend
from interest_pipeline.defs.conventions import warehouse_asset
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.params import as_record
from interest_pipeline.defs.shared import EVALUATION_TABLE, SHIPPED_SETTINGS, read_shipped_settings, read_user_history
from interest_pipeline.defs.tracking import step_phases
from interest_pipeline.defs.warehouse import read_frame, replace_table

TABLE = "item_recommendations"


class RecommendationConfig(Config):
    top_n: int = Field(default=TOP_N, ge=1, le=1000, description="Items recommended per user.")


@warehouse_asset(
    deps=[
        "raw_behavior_logs",
        "item_embeddings",
        "interest_topics",
        "interest_hierarchy",
        "user_interest_layers",
        EVALUATION_TABLE,
    ],
    kinds={"polars"},
    check_specs=[
        AssetCheckSpec(
            "recommends_only_unseen_items",
            asset=TABLE,
            description="No user is recommended an item they already have an event on, nor one item twice.",
        ),
    ],
    description="Per user with events, the top items of the shipped ranker (the one interest_evaluation scores, with the "
    "settings its validation slice chose, fitted on every event) that the user has no event on, each with the interest "
    "it serves: its subtopic and topic, where that subtopic stands in the user's layers (core, secondary, peripheral, "
    "new subtopic of a held topic, new topic), the source of the score (collaborative, layers, popular) and a readable reason.",
)
def item_recommendations(
    context: AssetExecutionContext, config: RecommendationConfig, warehouse: DuckDBResource
) -> MaterializeResult:
    phases = step_phases(context)
    with phases.phase("read") as phase, warehouse.get_connection() as conn:
        settings = read_shipped_settings(conn)
        history = read_user_history(conn)
        topics = read_frame(conn, "SELECT content_id, content_kind, topic_id, subtopic_id FROM interest_topics")
        hierarchy = read_frame(
            conn, "SELECT node_id, level, parent_id, label, centroid FROM interest_hierarchy ORDER BY node_id"
        )
        layers = read_frame(
            conn,
            "SELECT user_id, level, node_id, tier_long, tier_short FROM user_interest_layers "
            "WHERE source = 'activity' ORDER BY user_id, level, node_id",
        )
        phase.detail = f"{history.events.height:,d} events, {len(history.items.ids):,d} items"
    with phases.phase("rank") as phase:
        table = recommend(history.events, Taxonomy(topics, hierarchy), history.items, layers, settings, config.top_n)
        phase.detail = f"{table['user_id'].n_unique():,d} users, {table.height:,d} recommendations"
    with phases.phase("store", f"{table.height:,d} rows"), warehouse.get_connection() as conn:
        replace_table(
            conn, TABLE, table, {"recommendation": {"top_n": config.top_n}, SHIPPED_SETTINGS: as_record(settings)}
        )
        conn.register("_recommended", table.select("user_id", "item_id"))
        seen = conn.execute(
            "SELECT count(*) FROM _recommended r SEMI JOIN raw_behavior_logs l USING (user_id, item_id)"
        ).fetchone()[0]
        conn.unregister("_recommended")
    twice = table.height - table.select("user_id", "item_id").n_unique()
    serves = table.group_by("serves").agg(pl.len().alias("n")).sort("serves")
    sources = table.group_by("source").agg(pl.col("user_id").n_unique().alias("users")).sort("source")
    return MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "users": table["user_id"].n_unique(),
            "shipped_ranker_settings": MetadataValue.json(as_record(settings)),
            "serves": MetadataValue.json({s: _count(serves, "serves", s, "n") for s in SERVES}),
            "users_by_source": MetadataValue.json({s: _count(sources, "source", s, "users") for s in SOURCES}),
            "preview": MetadataValue.md(markdown_table(table.head(10).drop("score"), max_rows=10)),
            "phase_seconds": MetadataValue.json({k: round(v, 2) for k, v in phases.seconds.items()}),
        },
        check_results=[
            AssetCheckResult(
                check_name="recommends_only_unseen_items",
                passed=seen == 0 and twice == 0,
                metadata={"already_seen": seen, "recommended_twice": twice},
            )
        ],
    )


def _count(frame: pl.DataFrame, key: str, value: str, column: str) -> int:
    row = frame.filter(pl.col(key) == value)
    return int(row[column][0]) if row.height else 0
