"""Expansion: per user, the not-yet-engaged subtopics they are most likely to take up next."""


import polars as pl
from dagster import Config, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.expansion import ExpansionParams, ExpansionWeights, expand_interests
from interest_pipeline.core.takeup import TakeupParams, takeup_probabilities
from interest_pipeline.defs.conventions import WAREHOUSE_POOL, follow_new_data, stage_tags
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.params import as_record
from interest_pipeline.defs.shared import INTERACTIONS_SQL, read_feature_params, read_user_history, reference_time
from interest_pipeline.defs.warehouse import read_frame, replace_table

GROUP = "expansion"
_EXPANSION, _TAKEUP = ExpansionParams(), TakeupParams()


class ExpansionConfig(Config):
    top_n: int = Field(default=_EXPANSION.top_n, ge=1, description="Suggestions kept per user.")
    weights: dict[str, float] = Field(
        default=_EXPANSION.weights.as_mapping(),
        description="Weights of the signals peers, hierarchy, similarity and model in the score (non-negative, not all 0; normalised to sum 1).",
    )
    takeup_window_days: float = Field(
        default=_TAKEUP.window_days, gt=0, description="The take-up models learn from who first engaged with a subtopic in the last this many days."
    )
    takeup_min_positives: int = Field(default=_TAKEUP.min_positives, ge=1, description="A subtopic needs this many first-time users in the window to get a model.")
    takeup_max_train_users: int = Field(default=_TAKEUP.max_train_users, ge=10, description="At most this many users (a seeded sample) train each model.")
    min_segment_size: int = Field(
        default=_EXPANSION.min_segment_size, ge=1,
        description="A segment smaller than this is too thin to be a peer group: the coarse segment, then all users, are used instead.",
    )

    def params(self) -> ExpansionParams:
        # the take-up fields carry a prefix in the launchpad, where they sit beside the expansion's own
        takeup = TakeupParams(window_days=self.takeup_window_days, min_positives=self.takeup_min_positives, max_train_users=self.takeup_max_train_users)
        return ExpansionParams(top_n=self.top_n, weights=ExpansionWeights.from_mapping(self.weights), min_segment_size=self.min_segment_size, takeup=takeup)


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
    params = config.params()
    weights = params.weights
    with warehouse.get_connection() as conn:
        layers = read_frame(
            conn, "SELECT user_id, level, node_id, share_long, tier_long FROM user_interest_layers WHERE level = 'subtopic' AND source = 'activity' ORDER BY user_id, node_id"
        )
        hierarchy = read_frame(conn, "SELECT node_id, level, parent_id, label, centroid FROM interest_hierarchy ORDER BY node_id")
        segments = read_frame(conn, "SELECT user_id, segment_fine, segment_coarse FROM user_segments ORDER BY user_id")
        users = read_frame(conn, "SELECT user_id, is_cold_start FROM fused_user_features ORDER BY user_id")
        # the take-up models rebuild fused vectors as of the window's start, as fused_user_features built them
        features = read_feature_params(conn)
        takeup_inputs = (read_user_history(conn), read_frame(conn, INTERACTIONS_SQL), reference_time(conn)) if weights.model > 0 else None
    takeup = None
    if takeup_inputs is not None:
        history, interactions, reference_ts = takeup_inputs
        subtopic_ids = hierarchy.filter(pl.col("level") == "subtopic")["node_id"].to_list()
        takeup = takeup_probabilities(history, interactions, subtopic_ids, reference_ts, features, params.takeup)
    suggestions = expand_interests(
        layers, hierarchy, segments, users.select("user_id"), weights=weights, top_n=params.top_n, min_segment_size=params.min_segment_size,
        takeup=takeup.signal if takeup is not None else None,
    )
    with warehouse.get_connection() as conn:
        replace_table(conn, "interest_expansion", suggestions, {"expansion": as_record(params), "features": as_record(features)})

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
            "takeup_models": len(takeup.subtopic_ids) if takeup is not None else 0,
            "takeup_train_users": takeup.models.n_train_users if takeup is not None else 0,
            "feature_parameters": MetadataValue.json(as_record(features)),
            "strongest_signals": MetadataValue.md(markdown_table(reasons)),
            "preview": MetadataValue.md(markdown_table(suggestions.head(12), max_chars=120)),
        }
    )
