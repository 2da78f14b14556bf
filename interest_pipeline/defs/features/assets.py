"""Features: per-user behaviour vectors (X_u), text vectors (X_t) and their fusion.

Each table is stored with the parameters it was built with; ``fused_user_features`` stores its
own with those of the two tables it fused (``UserFeatureParams``), which is what the take-up
models and the hold-out read to rebuild fused vectors as of another time.

All three are kept incrementally (:mod:`interest_pipeline.defs.incremental`): after a new day
only the users whose events or texts changed are rebuilt. Decay is measured from each user's
latest event, so a user without new events keeps their vector exactly; only ``recency_days``,
measured to the newest event in the warehouse, is updated for everyone (one SQL statement).
A user whose new rows all follow the stored ones (the usual day) is not rebuilt from their whole
history: the stored decayed sum is brought forward and the day's rows added
(:mod:`interest_pipeline.defs.appends`); any other change rebuilds the user from all rows.
"""

import numpy as np
import polars as pl
from dagster import MaterializeResult, MetadataValue
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.common.vectors import series_to_vectors, vectors_to_series
from interest_pipeline.core.features.decayed_sums import DecayedSums, add_decayed
from interest_pipeline.core.features.user_features import (
    BehaviorParams,
    FusionParams,
    TextParams,
    UserFeatureParams,
    activity_statistics,
    add_activity_statistics,
    fuse_user_vectors,
    user_behavior_sums,
    user_text_sums,
)
from interest_pipeline.defs.appends import key_totals, read_appended_rows, store_state, stored_sums
from interest_pipeline.defs.conventions import follow_new_data, warehouse_asset
from interest_pipeline.defs.incremental import (
    RebuildConfig,
    find_changes,
    key_fingerprints,
    read_for_changes,
    read_for_keys,
    store_changes,
    stored_context,
    table_fingerprint,
    upstream_fingerprints_sql,
)
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.params import as_record, from_record, params_from_config
from interest_pipeline.defs.shared import FUSED_FEATURES, reference_time
from interest_pipeline.defs.warehouse import read_frame, read_parameters

BEHAVIOR_FEATURES, TEXT_FEATURES = "user_behavior_features", "user_text_features"


_EVENTS_SQL = "SELECT user_id, item_id, event_type, event_ts FROM raw_behavior_logs"
_EVENT_HASH_COLUMNS = ["event_id", "item_id", "event_type", "event_ts"]
_TEXTS_SQL = "SELECT user_id, event_ts, embedding FROM comment_embeddings"


def _sums_frame(sums: DecayedSums) -> pl.DataFrame:
    """user_id, embedding (the sums' directions) of the users who have a sum."""
    has_sum = ~np.isnat(sums.reference_ts)
    users = [user for user, keep in zip(sums.keys, has_sum, strict=True) if keep]
    return pl.DataFrame({"user_id": users}, schema={"user_id": pl.String}).with_columns(
        vectors_to_series("embedding", sums.unit_vectors[has_sum].reshape(len(users), sums.sums.shape[1]))
    )


def _stored_vectors(embeddings: pl.Series, dim: int) -> np.ndarray:
    """A stored embedding column as rows of a matrix; zeros where it is null."""
    return series_to_vectors(embeddings.fill_null(pl.lit([0.0] * dim, dtype=pl.List(pl.Float32))), dim)


_RECENCY_SQL = (
    f"UPDATE {BEHAVIOR_FEATURES} SET recency_days = (epoch_us(?::TIMESTAMP) - epoch_us(last_event_ts)) / 86400000000.0"
)


class BehaviorFeatureConfig(RebuildConfig):
    half_life_days: float = Field(
        default=BehaviorParams().half_life_days,
        gt=0,
        description="Half-life of the time decay of an event's weight, in days.",
    )
    event_weights: dict[str, float] = Field(
        default=dict(BehaviorParams().event_weights), description="Weight of one event of each type."
    )

    def params(self) -> BehaviorParams:
        return params_from_config(self, BehaviorParams)


@warehouse_asset(
    deps=["raw_behavior_logs", "item_embeddings"],
    automation_condition=follow_new_data,
    kinds={"polars"},
    description="X_u per user: the time-decayed, event-type-weighted mean embedding of the items they interacted with "
    "(same space as the text), plus activity statistics: events per type, active days, recency.",
)
def user_behavior_features(config: BehaviorFeatureConfig, warehouse: DuckDBResource) -> MaterializeResult:
    params = config.params()
    with warehouse.get_connection() as conn:
        reference_ts = reference_time(conn)
        totals = key_totals(
            conn, BEHAVIOR_FEATURES, "SELECT * FROM raw_behavior_logs", "user_id", "event_ts", _EVENT_HASH_COLUMNS
        )
        context = {
            "parameters": as_record(params),
            "item_embeddings": table_fingerprint(conn, "item_embeddings", ["item_id", "embedding"]),
        }
        changes = find_changes(conn, BEHAVIOR_FEATURES, totals.fingerprints, context, config.full_refresh)
        rebuilt, appended = totals.split(changes)
        items = read_frame(conn, "SELECT item_id, embedding FROM item_embeddings ORDER BY item_id")
        item_ids, item_vectors = items["item_id"].to_list(), series_to_vectors(items["embedding"], 0)

        def behavior_sums(events: pl.DataFrame) -> DecayedSums:
            return user_behavior_sums(
                events.filter(pl.col("item_id").is_not_null()),
                item_ids,
                item_vectors,
                params.half_life_days,
                params.event_weights,
            )

        events = read_for_keys(
            conn, f"{_EVENTS_SQL} {{only_changed}} ORDER BY event_id", None if changes.full else rebuilt
        )
        sums, stats = behavior_sums(events), activity_statistics(events, reference_ts)
        if appended.height:  # users whose new events all follow their stored ones: the stored sums brought forward
            new_events = read_appended_rows(
                conn, f"{_EVENTS_SQL} {{only_new}} ORDER BY event_id", appended, "user_id", "event_ts"
            )
            stored = read_for_keys(
                conn, f"SELECT * FROM {BEHAVIOR_FEATURES} {{only_changed}} ORDER BY user_id", appended["key"]
            )
            earlier = stored_sums(
                conn, BEHAVIOR_FEATURES, stored["user_id"], _stored_vectors(stored["embedding"], item_vectors.shape[1])
            )
            brought = add_decayed(earlier, behavior_sums(new_events).reindexed(earlier.keys), params.half_life_days)
            sums = DecayedSums.concat([sums, brought], item_vectors.shape[1])
            stats = pl.concat([stats, add_activity_statistics(stored.select(stats.columns), new_events, reference_ts)])
        table = (
            stats.join(_sums_frame(sums), on="user_id", how="left")
            .with_columns(pl.col("embedding").is_not_null().alias("has_behavior"))
            .sort("user_id")
        )

        def also(c) -> None:
            c.execute(
                _RECENCY_SQL, [reference_ts]
            )  # every user's recency moves with the newest event, including those not rebuilt
            store_state(c, changes, sums)

        store_changes(conn, changes, table, "user_id", as_record(params), also=also)
        total = conn.execute(f"SELECT count(*), count(embedding) FROM {BEHAVIOR_FEATURES}").fetchone()
    return MaterializeResult(
        metadata={
            "dagster/row_count": total[0],
            "users_with_item_events": total[1],
            **changes.summary,
            "keys_appended": appended.height,
            "reference_ts": str(reference_ts),
            "preview": MetadataValue.md(markdown_table(table.drop("embedding"))),
        }
    )


class TextFeatureConfig(RebuildConfig):
    half_life_days: float = Field(
        default=TextParams().half_life_days,
        gt=0,
        description="Half-life of the time decay of a comment's weight, in days.",
    )

    def params(self) -> TextParams:
        return params_from_config(self, TextParams)


@warehouse_asset(
    deps=["comment_embeddings"],
    automation_condition=follow_new_data,
    kinds={"polars"},
    description="X_t per user: the time-decayed mean embedding of the user's comments and search queries.",
)
def user_text_features(config: TextFeatureConfig, warehouse: DuckDBResource) -> MaterializeResult:
    params = config.params()
    with warehouse.get_connection() as conn:
        # the text hash stands for the vector, the embeddings' context (model, code) for how it was made
        totals = key_totals(
            conn,
            TEXT_FEATURES,
            "SELECT * FROM comment_embeddings",
            "user_id",
            "event_ts",
            ["comment_id", "event_ts", "text_hash"],
        )
        context = {"parameters": as_record(params), "comment_embeddings": stored_context(conn, "comment_embeddings")}
        changes = find_changes(conn, TEXT_FEATURES, totals.fingerprints, context, config.full_refresh)
        rebuilt, appended = totals.split(changes)
        comments = read_for_keys(
            conn, f"{_TEXTS_SQL} {{only_changed}} ORDER BY comment_id", None if changes.full else rebuilt
        )
        sums = user_text_sums(comments, series_to_vectors(comments["embedding"], 0), params.half_life_days)
        counts = comments.group_by("user_id").agg(pl.len().cast(pl.Int64).alias("n_texts"))
        if appended.height:  # users whose new texts all follow their stored ones: the stored sums brought forward
            new_comments = read_appended_rows(
                conn, f"{_TEXTS_SQL} {{only_new}} ORDER BY comment_id", appended, "user_id", "event_ts"
            )
            stored = read_for_keys(
                conn,
                f"SELECT user_id, n_texts, embedding FROM {TEXT_FEATURES} {{only_changed}} ORDER BY user_id",
                appended["key"],
            )
            dim = len(stored["embedding"][0])
            earlier = stored_sums(conn, TEXT_FEATURES, stored["user_id"], series_to_vectors(stored["embedding"], dim))
            later = user_text_sums(
                new_comments, series_to_vectors(new_comments["embedding"], dim), params.half_life_days
            )
            sums = DecayedSums.concat(
                [sums, add_decayed(earlier, later.reindexed(earlier.keys), params.half_life_days)], dim
            )
            added = new_comments.group_by("user_id").agg(pl.len().cast(pl.Int64).alias("added"))
            counts = pl.concat(
                [
                    counts,
                    stored.join(added, on="user_id").select(
                        "user_id", (pl.col("n_texts") + pl.col("added")).alias("n_texts")
                    ),
                ]
            )
        table = (
            _sums_frame(sums)
            .join(counts, on="user_id", how="left")
            .select("user_id", "n_texts", "embedding")
            .sort("user_id")
        )
        store_changes(conn, changes, table, "user_id", as_record(params), also=lambda c: store_state(c, changes, sums))
        total = conn.execute(f"SELECT count(*) FROM {TEXT_FEATURES}").fetchone()[0]
    return MaterializeResult(metadata={"dagster/row_count": total, **changes.summary, "keys_appended": appended.height})


class FusionConfig(RebuildConfig):
    alpha: float = Field(
        default=FusionParams().alpha,
        ge=0.0,
        le=1.0,
        description="Weight of behaviour in X = alpha*X_u + (1-alpha)*X_t.",
    )
    min_events: int = Field(
        default=FusionParams().min_events, ge=1, description="Users with fewer events are flagged cold-start."
    )

    def params(self) -> FusionParams:
        return params_from_config(self, FusionParams)


@warehouse_asset(
    deps=["user_behavior_features", "user_text_features"],
    automation_condition=follow_new_data,
    kinds={"polars"},
    description="X = alpha*X_u + (1-alpha)*X_t, renormalised. Users without text fall back to X_u (has_text=false); "
    "users below the minimum activity are flagged cold-start.",
)
def fused_user_features(config: FusionConfig, warehouse: DuckDBResource) -> MaterializeResult:
    fusion = config.params()
    with warehouse.get_connection() as conn:
        params = UserFeatureParams(
            behavior=from_record(BehaviorParams, read_parameters(conn, BEHAVIOR_FEATURES), BEHAVIOR_FEATURES),
            text=from_record(TextParams, read_parameters(conn, TEXT_FEATURES), TEXT_FEATURES),
            fusion=fusion,
        )
        upstream = {table: stored_context(conn, table) for table in (BEHAVIOR_FEATURES, TEXT_FEATURES)}
        if None in upstream.values():  # built before they kept fingerprints: hash their rows
            fingerprints = key_fingerprints(
                conn,
                f"SELECT user_id, b.n_events, b.embedding AS behavior, t.embedding AS text FROM {BEHAVIOR_FEATURES} b FULL JOIN {TEXT_FEATURES} t USING (user_id)",
                "user_id",
                ["n_events", "behavior", "text"],
            )
        else:  # a user needs new fused features exactly when either side was rebuilt for them
            fingerprints = read_frame(conn, upstream_fingerprints_sql(BEHAVIOR_FEATURES, TEXT_FEATURES))
        changes = find_changes(
            conn,
            FUSED_FEATURES,
            fingerprints,
            {"parameters": as_record(params), "upstream": upstream},
            config.full_refresh,
        )
        behavior = read_for_changes(
            conn,
            f"SELECT user_id, n_events, embedding FROM {BEHAVIOR_FEATURES} {{only_changed}} ORDER BY user_id",
            changes,
        )
        text = read_for_changes(
            conn, f"SELECT user_id, embedding AS text_embedding FROM {TEXT_FEATURES} {{only_changed}}", changes
        )
    joined = behavior.join(text, on="user_id", how="full", coalesce=True).sort("user_id")
    dim = next((len(v) for v in joined["embedding"].drop_nulls().head(1)), None) or next(
        (len(v) for v in joined["text_embedding"].drop_nulls().head(1)), 0
    )
    has_behavior = joined["embedding"].is_not_null().to_numpy()
    has_text = joined["text_embedding"].is_not_null().to_numpy()
    x_u, x_t = _stored_vectors(joined["embedding"], dim), _stored_vectors(joined["text_embedding"], dim)
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
        store_changes(conn, changes, table, "user_id", as_record(params))
        total, without_text, cold_start = conn.execute(
            f"SELECT count(*), count(*) FILTER (NOT has_text), count(*) FILTER (is_cold_start) FROM {FUSED_FEATURES}"
        ).fetchone()
    return MaterializeResult(
        metadata={
            "dagster/row_count": total,
            **changes.summary,
            "alpha": fusion.alpha,
            "parameters": MetadataValue.json(as_record(params)),
            "users_text_fallback": without_text,
            "users_cold_start": cold_start,
        }
    )
