"""Expansion: per user, the not-yet-engaged subtopics they are most likely to take up next."""


import polars as pl
from dagster import Config, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.embedding import series_to_vectors
from interest_pipeline.core.expansion import ExpansionWeights, interest_expansion as expand_interests
from interest_pipeline.core.takeup import takeup_probabilities
from interest_pipeline.defs.features.assets import BehaviorFeatureConfig, FusionConfig, reference_time
from interest_pipeline.defs.profiles.assets import INTERACTIONS_SQL
from interest_pipeline.defs.conventions import WAREHOUSE_POOL, follow_new_data, stage_tags
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.warehouse import read_frame, replace_table

GROUP = "profiles"
DEFAULT_WEIGHTS = {"peers": 0.4, "hierarchy": 0.35, "similarity": 0.25, "model": 0.25}


class ExpansionConfig(Config):
    top_n: int = Field(default=5, ge=1, description="Suggestions kept per user.")
    weights: dict[str, float] = Field(
        default=dict(DEFAULT_WEIGHTS),
        description="Weights of the signals peers, hierarchy, similarity and model in the score (non-negative, not all 0; normalised to sum 1).",
    )
    takeup_window_days: float = Field(
        default=7.0, gt=0, description="The take-up models learn from who first engaged with a subtopic in the last this many days."
    )
    takeup_min_positives: int = Field(default=5, ge=1, description="A subtopic needs this many first-time users in the window to get a model.")
    takeup_max_train_users: int = Field(default=10_000, ge=10, description="At most this many users (a seeded sample) train each model.")
    min_segment_size: int = Field(
        default=5, ge=1, description="A segment smaller than this is too thin to be a peer group: the coarse segment, then all users, are used instead."
    )


def _takeup_inputs(conn):
    """What the take-up models learn from: events, comment and item embeddings, subtopic interactions."""
    events = read_frame(conn, "SELECT user_id, item_id, event_type, event_ts FROM raw_behavior_logs ORDER BY user_id, event_ts, event_id")
    comments = read_frame(conn, "SELECT user_id, event_ts, embedding FROM comment_embeddings ORDER BY comment_id")
    items = read_frame(conn, "SELECT item_id, embedding FROM item_embeddings ORDER BY item_id")
    return events, comments, items, read_frame(conn, INTERACTIONS_SQL), reference_time(conn)


@asset(
    pool=WAREHOUSE_POOL,
    deps=["user_interest_layers", "user_segments", "interest_hierarchy", "fused_user_features", "comment_embeddings", "item_embeddings"],
    group_name=GROUP, tags=stage_tags(GROUP), automation_condition=follow_new_data,
    kinds={"duckdb", "polars"},
    description="Per user, the top subtopics they have not engaged with yet but are most likely to: a weighted "
    "sum of the taxonomy (siblings of their core and secondary subtopics), their segment's peers, content "
    "similarity and a logistic regression per subtopic trained on who took it up in the last window, with the "
    "signals and a readable reason per suggestion; cold-start users get the most popular subtopics.",
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
        takeup_inputs = _takeup_inputs(conn) if weights.model > 0 else None
    takeup, models = None, None
    if takeup_inputs is not None:
        events, comments, items, interactions, reference_ts = takeup_inputs
        subtopic_ids = hierarchy.filter(pl.col("level") == "subtopic")["node_id"].to_list()
        takeup_users, models, probabilities = takeup_probabilities(
            events, comments.select("user_id", "event_ts"), series_to_vectors(comments["embedding"], 0), items["item_id"].to_list(),
            series_to_vectors(items["embedding"], 0), interactions, reference_ts, config.takeup_window_days, subtopic_ids,
            half_life_days=BehaviorFeatureConfig.model_fields["half_life_days"].default, alpha=FusionConfig.model_fields["alpha"].default,
            min_positives=config.takeup_min_positives, max_train_users=config.takeup_max_train_users,
        )
        takeup = (takeup_users, models.subtopic_ids, probabilities)
    suggestions = expand_interests(
        layers, hierarchy, segments, users.select("user_id"), weights=weights, top_n=config.top_n, min_segment_size=config.min_segment_size, takeup=takeup
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
            "takeup_models": len(models.subtopic_ids) if models is not None else 0,
            "takeup_train_users": models.n_train_users if models is not None else 0,
            "strongest_signals": MetadataValue.md(markdown_table(reasons)),
            "preview": MetadataValue.md(markdown_table(suggestions.head(12), max_chars=120)),
        }
    )
