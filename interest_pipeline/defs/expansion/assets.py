"""Expansion: per user, the not-yet-engaged subtopics they are most likely to take up next."""


import polars as pl
from dagster import Config, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.expansion import ExpansionWeights, interest_expansion as expand_interests
from interest_pipeline.defs.conventions import WAREHOUSE_POOL, follow_new_data, stage_tags
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.warehouse import read_frame, replace_table

GROUP = "profiles"
DEFAULT_WEIGHTS = {name: getattr(ExpansionWeights(), name) for name in ("peers", "hierarchy", "similarity")}


class ExpansionConfig(Config):
    top_n: int = Field(default=5, ge=1, description="Suggestions kept per user.")
    weights: dict[str, float] = Field(
        default=dict(DEFAULT_WEIGHTS),
        description="Weights of the signals peers, hierarchy and similarity in the score (non-negative, not all 0; normalised to sum 1).",
    )
    min_segment_size: int = Field(
        default=5, ge=1, description="A segment smaller than this is too thin to be a peer group: the coarse segment, then all users, are used instead."
    )


@asset(
    pool=WAREHOUSE_POOL,
    deps=["user_interest_layers", "user_segments", "interest_hierarchy"],
    group_name=GROUP, tags=stage_tags(GROUP), automation_condition=follow_new_data,
    kinds={"duckdb", "polars"},
    description="Per user, the top subtopics they have not engaged with yet but are most likely to: a weighted "
    "sum of the taxonomy (siblings of their core and secondary subtopics), their segment's peers and content "
    "similarity, with the signals and a readable reason per suggestion; cold-start users get the most popular subtopics.",
)
def interest_expansion(config: ExpansionConfig, warehouse: DuckDBResource) -> MaterializeResult:
    weights = ExpansionWeights.from_mapping(config.weights)
    with warehouse.get_connection() as conn:
        layers = read_frame(
            conn, "SELECT user_id, level, node_id, share_long, tier_long FROM user_interest_layers WHERE level = 'subtopic' AND source = 'activity' ORDER BY user_id, node_id"
        )
        hierarchy = read_frame(conn, "SELECT node_id, level, parent_id, label, centroid FROM interest_hierarchy ORDER BY node_id")
        segments = read_frame(conn, "SELECT user_id, segment_fine, segment_coarse FROM user_segments ORDER BY user_id")
        users = read_frame(conn, "SELECT user_id, is_cold_start FROM fused_user_features ORDER BY user_id")
    suggestions = expand_interests(
        layers, hierarchy, segments, users.select("user_id"), weights=weights, top_n=config.top_n, min_segment_size=config.min_segment_size
    )
    with warehouse.get_connection() as conn:
        replace_table(conn, "interest_expansion", suggestions)

    covered = suggestions["user_id"].n_unique()
    fallback_users = suggestions.filter(pl.col("is_cold_start_fallback"))["user_id"].n_unique()
    flagged = users.filter(pl.col("is_cold_start")).select("user_id")
    reasons = (
        suggestions.group_by("strongest_signal")
        .agg(pl.len().alias("suggestions"), pl.col("user_id").n_unique().alias("users"), pl.col("score").mean().round(3).alias("mean_score"))
        .with_columns((pl.col("suggestions") / max(suggestions.height, 1)).round(3).alias("share"))
        .sort(["suggestions", "strongest_signal"], descending=[True, False])
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": suggestions.height,
            "users_covered": covered,
            "users_without_suggestions": users.height - users.join(suggestions.select("user_id").unique(), on="user_id", how="semi").height,
            "users_on_popular_fallback": fallback_users,
            "cold_start_flagged_users_personalised": flagged.join(
                suggestions.filter(~pl.col("is_cold_start_fallback")).select("user_id").unique(), on="user_id", how="semi"
            ).height,
            "mean_score": round(float(suggestions["score"].mean() or 0.0), 4),
            "mean_top_score": round(float(suggestions.filter(pl.col("rank") == 1)["score"].mean() or 0.0), 4),
            "weights": MetadataValue.json(weights.normalised()),
            "strongest_signals": MetadataValue.md(markdown_table(reasons)),
            "preview": MetadataValue.md(markdown_table(suggestions.head(12), max_chars=120)),
        }
    )
