"""Features: per-user behaviour vectors (X_u), text vectors (X_t) and their fusion.

Each table is stored with the parameters it was built with; ``fused_user_features`` stores its
own with those of the two tables it fused (``UserFeatureParams``), which is what the take-up
models and the hold-out read to rebuild fused vectors as of another time.
"""


import numpy as np
import polars as pl
from dagster import Config, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.embedding import series_to_vectors, vectors_to_series
from interest_pipeline.core.features import (
    BehaviorParams,
    FusionParams,
    TextParams,
    UserFeatureParams,
    activity_statistics,
    fuse_user_vectors,
    user_behavior_vectors,
    user_text_vectors,
)
from interest_pipeline.defs.conventions import WAREHOUSE_POOL, follow_new_data, stage_tags
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.params import as_record, from_record, params_from_config
from interest_pipeline.defs.shared import FUSED_FEATURES, reference_time
from interest_pipeline.defs.warehouse import read_frame, read_parameters, replace_table

GROUP = "features"
BEHAVIOR_FEATURES, TEXT_FEATURES = "user_behavior_features", "user_text_features"


def _vector_frame(users: list[str], vectors: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame({"user_id": users}, schema={"user_id": pl.String}).with_columns(vectors_to_series("embedding", vectors))


class BehaviorFeatureConfig(Config):
    half_life_days: float = Field(default=BehaviorParams().half_life_days, gt=0, description="Half-life of the time decay of an event's weight, in days.")
    event_weights: dict[str, float] = Field(default=dict(BehaviorParams().event_weights), description="Weight of one event of each type.")

    def params(self) -> BehaviorParams:
        return params_from_config(self, BehaviorParams)


@asset(
    pool=WAREHOUSE_POOL,
    deps=["raw_behavior_logs", "item_embeddings"],
    group_name=GROUP, tags=stage_tags(GROUP), automation_condition=follow_new_data,
    kinds={"duckdb", "polars"},
    description="X_u per user: the time-decayed, event-type-weighted mean embedding of the items they interacted with "
    "(same space as the text), plus activity statistics: events per type, active days, recency.",
)
def user_behavior_features(config: BehaviorFeatureConfig, warehouse: DuckDBResource) -> MaterializeResult:
    params = config.params()
    with warehouse.get_connection() as conn:
        reference_ts = reference_time(conn)
        events = read_frame(conn, "SELECT user_id, item_id, event_type, event_ts FROM raw_behavior_logs ORDER BY event_id")
        items = read_frame(conn, "SELECT item_id, embedding FROM item_embeddings ORDER BY item_id")
        item_vectors = series_to_vectors(items["embedding"], 0)
        users, vectors = user_behavior_vectors(
            events.filter(pl.col("item_id").is_not_null()),
            items["item_id"].to_list(),
            item_vectors,
            reference_ts,
            params.half_life_days,
            params.event_weights,
        )
        stats = activity_statistics(events, reference_ts)
        table = stats.join(_vector_frame(users, vectors), on="user_id", how="left").with_columns(
            pl.col("embedding").is_not_null().alias("has_behavior")
        )
        replace_table(conn, BEHAVIOR_FEATURES, table, as_record(params))
    return MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "users_with_item_events": len(users),
            "reference_ts": str(reference_ts),
            "preview": MetadataValue.md(markdown_table(table.drop("embedding"))),
        }
    )


class TextFeatureConfig(Config):
    half_life_days: float = Field(default=TextParams().half_life_days, gt=0, description="Half-life of the time decay of a comment's weight, in days.")

    def params(self) -> TextParams:
        return params_from_config(self, TextParams)


@asset(
    pool=WAREHOUSE_POOL,
    deps=["comment_embeddings"],
    group_name=GROUP, tags=stage_tags(GROUP), automation_condition=follow_new_data,
    kinds={"duckdb", "polars"},
    description="X_t per user: the time-decayed mean embedding of the user's comments and search queries.",
)
def user_text_features(config: TextFeatureConfig, warehouse: DuckDBResource) -> MaterializeResult:
    params = config.params()
    with warehouse.get_connection() as conn:
        reference_ts = reference_time(conn)
        comments = read_frame(conn, "SELECT user_id, event_ts, embedding FROM comment_embeddings ORDER BY comment_id")
        users, vectors = user_text_vectors(comments, series_to_vectors(comments["embedding"], 0), reference_ts, params.half_life_days)
        counts = comments.group_by("user_id").agg(pl.len().cast(pl.Int64).alias("n_texts"))
        table = _vector_frame(users, vectors).join(counts, on="user_id", how="left").select("user_id", "n_texts", "embedding")
        replace_table(conn, TEXT_FEATURES, table, as_record(params))
    return MaterializeResult(metadata={"dagster/row_count": table.height, "reference_ts": str(reference_ts)})


class FusionConfig(Config):
    alpha: float = Field(default=FusionParams().alpha, ge=0.0, le=1.0, description="Weight of behaviour in X = alpha*X_u + (1-alpha)*X_t.")
    min_events: int = Field(default=FusionParams().min_events, ge=1, description="Users with fewer events are flagged cold-start.")

    def params(self) -> FusionParams:
        return params_from_config(self, FusionParams)


@asset(
    pool=WAREHOUSE_POOL,
    deps=["user_behavior_features", "user_text_features"],
    group_name=GROUP, tags=stage_tags(GROUP), automation_condition=follow_new_data,
    kinds={"duckdb", "polars"},
    description="X = alpha*X_u + (1-alpha)*X_t, renormalised. Users without text fall back to X_u (has_text=false); "
    "users below the minimum activity are flagged cold-start.",
)
def fused_user_features(config: FusionConfig, warehouse: DuckDBResource) -> MaterializeResult:
    fusion = config.params()
    with warehouse.get_connection() as conn:
        behavior = read_frame(conn, "SELECT user_id, n_events, embedding FROM user_behavior_features ORDER BY user_id")
        text = read_frame(conn, "SELECT user_id, embedding AS text_embedding FROM user_text_features")
        params = UserFeatureParams(
            behavior=from_record(BehaviorParams, read_parameters(conn, BEHAVIOR_FEATURES), BEHAVIOR_FEATURES),
            text=from_record(TextParams, read_parameters(conn, TEXT_FEATURES), TEXT_FEATURES),
            fusion=fusion,
        )
    joined = behavior.join(text, on="user_id", how="full", coalesce=True).sort("user_id")
    dim = next((len(v) for v in joined["embedding"].drop_nulls().head(1)), None) or next(
        (len(v) for v in joined["text_embedding"].drop_nulls().head(1)), 0
    )
    has_behavior = joined["embedding"].is_not_null().to_numpy()
    has_text = joined["text_embedding"].is_not_null().to_numpy()
    zero = [0.0] * dim
    x_u = series_to_vectors(joined["embedding"].fill_null(pl.lit(zero, dtype=pl.List(pl.Float32))), dim)
    x_t = series_to_vectors(joined["text_embedding"].fill_null(pl.lit(zero, dtype=pl.List(pl.Float32))), dim)
    fused = fuse_user_vectors(x_u, has_behavior, x_t, has_text, fusion.alpha)
    table = joined.select(
        "user_id",
        pl.col("n_events").fill_null(0),
        pl.Series("has_behavior", has_behavior),
        pl.Series("has_text", has_text),
        (pl.col("n_events").fill_null(0) < fusion.min_events).alias("is_cold_start"),
        pl.lit(fusion.alpha).alias("alpha"),
    ).with_columns(vectors_to_series("embedding", fused))
    with warehouse.get_connection() as conn:
        replace_table(conn, FUSED_FEATURES, table, as_record(params))
    return MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "alpha": fusion.alpha,
            "parameters": MetadataValue.json(as_record(params)),
            "users_text_fallback": int((~table["has_text"]).sum()),
            "users_cold_start": int(table["is_cold_start"].sum()),
        }
    )
