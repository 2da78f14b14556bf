"""Expansion: per user, the not-yet-engaged subtopics they are most likely to take up next.

What every user shares is kept on the re-clustering cadence, with the taxonomy: the take-up models
(``takeup_models``: their subtopics are the taxonomy's, and training reads every user's history)
and the peers signal (``segment_peer_shares``: per segment, the share of its members with each
subtopic). So a user's suggestions depend only on their own layers, fused features and peer group
besides those, and the daily ``interest_expansion`` rescores only the users whose own inputs
changed (by ``user_interest_layers``' and ``fused_user_features``' input fingerprints and the
user's peer group); the popular fallback of users without layers, which follows everyone's
layers, is rewritten whole. A change of what everyone shares (the taxonomy, the segments, the
peer shares, the take-up models, the parameters or the code) rescores everyone.
"""

import time

import polars as pl
from dagster import Config, MaterializeResult, MetadataValue
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.common.vectors import series_to_vectors
from interest_pipeline.core.expansion.interest_expansion import (
    ExpansionParams,
    ExpansionWeights,
    expand_interests,
    peer_groups,
    peer_share_table,
)
from interest_pipeline.core.expansion.takeup import (
    TakeupParams,
    models_as_frame,
    models_from_frame,
    train_takeup_models,
)
from interest_pipeline.core.features.user_features import UserFeatureParams
from interest_pipeline.defs.conventions import follow_new_data, recluster_on_cadence, warehouse_asset
from interest_pipeline.defs.incremental import (
    RebuildConfig,
    find_changes,
    read_for_changes,
    store_changes,
    stored_context,
    upstream_fingerprints_sql,
    whole_table_context,
)
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.params import as_record, from_record, params_from_config
from interest_pipeline.defs.shared import (
    FUSED_FEATURES,
    INTERACTIONS_SQL,
    LAYERS_TABLE,
    read_feature_params,
    read_user_history,
    reference_time,
)
from interest_pipeline.defs.warehouse import read_frame, read_parameters, replace_table, table_exists

TAKEUP_MODELS = "takeup_models"
PEER_SHARES = "segment_peer_shares"
EXPANSION_TABLE = "interest_expansion"
LAYERS_SQL = f"SELECT user_id, level, node_id, share_long, tier_long FROM {LAYERS_TABLE} WHERE level = 'subtopic' AND source = 'activity'"
HIERARCHY_SQL = "SELECT node_id, level, parent_id, label, centroid FROM interest_hierarchy"
SEGMENTS_SQL = "SELECT user_id, segment_fine, segment_coarse FROM user_segments"
# What every user's suggestions share, hashed whole into interest_expansion's context (the
# take-up models too, when their weight is not 0); layers and fused features count per user.
_SHARED_INPUTS = {"hierarchy": HIERARCHY_SQL, "segments": SEGMENTS_SQL, PEER_SHARES: f"SELECT * FROM {PEER_SHARES}"}
_EXPANSION, _TAKEUP = ExpansionParams(), TakeupParams()


class TakeupConfig(Config):
    window_days: float = Field(
        default=_TAKEUP.window_days,
        gt=0,
        description="The models learn from who first engaged with a subtopic in the last this many days.",
    )
    max_window_days: float = Field(
        default=_TAKEUP.max_window_days,
        gt=0,
        description="When no subtopic has enough first-time users, the window doubles up to this many days.",
    )
    min_positives: int = Field(
        default=_TAKEUP.min_positives,
        ge=1,
        description="A subtopic needs this many first-time users in the window to get a model.",
    )
    max_train_users: int = Field(
        default=_TAKEUP.max_train_users,
        ge=10,
        description="At most this many users (a seeded sample) train each model.",
    )

    def params(self) -> TakeupParams:
        return params_from_config(self, TakeupParams)


@warehouse_asset(
    deps=[
        "raw_behavior_logs",
        "interest_topics",
        "interest_hierarchy",
        "incremental_topic_assignments",
        "fused_user_features",
        "comment_embeddings",
        "item_embeddings",
    ],
    automation_condition=recluster_on_cadence,
    kinds={"scikit-learn"},
    description="One logistic regression per subtopic on the fused user features, trained on who first engaged with the "
    "subtopic in the last window (features from the events before it; the window doubles up to max_window_days while no "
    "subtopic has enough first-time users). Retrained on the re-clustering cadence with the taxonomy; interest_expansion "
    "applies the stored models every day.",
)
def takeup_models(config: TakeupConfig, warehouse: DuckDBResource) -> MaterializeResult:
    params = config.params()
    started = time.perf_counter()
    with warehouse.get_connection() as conn:
        features = read_feature_params(conn)
        history, interactions, reference_ts = (
            read_user_history(conn),
            read_frame(conn, INTERACTIONS_SQL),
            reference_time(conn),
        )
        subtopic_ids = read_frame(
            conn, "SELECT node_id FROM interest_hierarchy WHERE level = 'subtopic' ORDER BY node_id"
        )["node_id"].to_list()
    models, window = train_takeup_models(history, interactions, subtopic_ids, reference_ts, features, params)
    record = {
        "takeup": as_record(params),
        "features": as_record(features),
        "window_days_used": window,
        "reference_ts": reference_ts.isoformat(),
        "n_train_users": models.n_train_users,
        "dimension": history.items.dim,
    }
    table = models_as_frame(models)
    with warehouse.get_connection() as conn:
        replace_table(conn, TAKEUP_MODELS, table, record)
    return MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "subtopics": len(subtopic_ids),
            "window_days_used": window,
            "train_users": models.n_train_users,
            "reference_ts": str(reference_ts),
            "feature_parameters": MetadataValue.json(as_record(features)),
            "seconds": round(time.perf_counter() - started, 2),
            "preview": MetadataValue.md(markdown_table(table.drop("coef").sort("n_positives", descending=True))),
        }
    )


def _stored_takeup(conn, features: UserFeatureParams):
    """The stored take-up models and their parameters; refused when they were trained on fused
    features built otherwise than the current ones (their coefficients would mean something else)."""
    if not table_exists(conn, TAKEUP_MODELS):
        raise LookupError(
            f"table {TAKEUP_MODELS} is missing: materialize takeup_models (or set the weight 'model' to 0)"
        )
    record = read_parameters(conn, TAKEUP_MODELS)
    trained_on = from_record(UserFeatureParams, record["features"], TAKEUP_MODELS)
    if trained_on != features:
        raise ValueError(
            f"takeup_models were trained on fused features built with {as_record(trained_on)}, fused_user_features is now built "
            f"with {as_record(features)}: re-materialize takeup_models"
        )
    models = models_from_frame(
        read_frame(conn, f"SELECT * FROM {TAKEUP_MODELS}"), record["n_train_users"], record["dimension"]
    )
    return models, from_record(TakeupParams, record["takeup"], TAKEUP_MODELS), record


@warehouse_asset(
    deps=["user_segments", "user_interest_layers", "interest_hierarchy", "fused_user_features"],
    automation_condition=recluster_on_cadence,
    kinds={"polars"},
    description="The peers signal of interest_expansion: per peer group (fine segment, coarse segment, all users) and "
    "subtopic, the share of the group's members with the subtopic as a core or secondary interest. Kept on the "
    "re-clustering cadence with the segments, so that each day's expansion rescores only the users whose own inputs changed.",
)
def segment_peer_shares(warehouse: DuckDBResource) -> MaterializeResult:
    started = time.perf_counter()
    with warehouse.get_connection() as conn:
        layers = read_frame(conn, LAYERS_SQL)
        hierarchy = read_frame(conn, HIERARCHY_SQL)
        segments = read_frame(conn, SEGMENTS_SQL)
        users = read_frame(conn, f"SELECT user_id FROM {FUSED_FEATURES}")
    table = peer_share_table(layers, hierarchy, segments, users)
    with warehouse.get_connection() as conn:
        replace_table(conn, PEER_SHARES, table, {"users": users.height, "segmented_users": segments.height})
    groups = table.group_by("peer_group").agg(pl.len().alias("subtopics"))
    return MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "peer_groups": groups.height,
            "users": users.height,
            "mean_subtopics_per_group": round(float(groups["subtopics"].mean() or 0.0), 1),
            "seconds": round(time.perf_counter() - started, 2),
            "preview": MetadataValue.md(
                markdown_table(table.sort(["share", "peer_group"], descending=[True, False]).head(12))
            ),
        }
    )


class ExpansionConfig(RebuildConfig):
    top_n: int = Field(default=_EXPANSION.top_n, ge=1, description="Suggestions kept per user.")
    weights: dict[str, float] = Field(
        default=_EXPANSION.weights.as_mapping(),
        description="Weights of the signals peers, hierarchy, similarity and model in the score (non-negative, not all 0; normalised to sum 1).",
    )
    takeup_window_days: float = Field(
        default=_TAKEUP.window_days,
        gt=0,
        description="The take-up models learn from who first engaged with a subtopic in the last this many days.",
    )
    takeup_min_positives: int = Field(
        default=_TAKEUP.min_positives,
        ge=1,
        description="A subtopic needs this many first-time users in the window to get a model.",
    )
    takeup_max_train_users: int = Field(
        default=_TAKEUP.max_train_users,
        ge=10,
        description="At most this many users (a seeded sample) train each model.",
    )
    min_segment_size: int = Field(
        default=_EXPANSION.min_segment_size,
        ge=1,
        description="A segment smaller than this is too thin to be a peer group: the coarse segment, then all users, are used instead.",
    )

    def params(self, takeup: TakeupParams = _TAKEUP) -> ExpansionParams:
        """``takeup``: the parameters the stored take-up models were trained with (``takeup_models``' config)."""
        return ExpansionParams(
            top_n=self.top_n,
            weights=ExpansionWeights.from_mapping(self.weights),
            min_segment_size=self.min_segment_size,
            takeup=takeup,
        )


@warehouse_asset(
    deps=[
        "user_interest_layers",
        "user_segments",
        "segment_peer_shares",
        "interest_hierarchy",
        "fused_user_features",
        "takeup_models",
    ],
    automation_condition=follow_new_data,
    kinds={"polars"},
    description="Per user, the top subtopics they have not engaged with yet but are most likely to: a weighted "
    "sum of the taxonomy (siblings of their core and secondary subtopics), their segment's peers (segment_peer_shares), content "
    "similarity and the take-up models (takeup_models) applied to today's fused features, with the "
    "signals and a readable reason per suggestion; cold-start users get the most popular subtopics. Each day only the users "
    "whose layers, fused features or peer group changed are rescored.",
)
def interest_expansion(config: ExpansionConfig, warehouse: DuckDBResource) -> MaterializeResult:
    weights = config.params().weights
    with warehouse.get_connection() as conn:
        features = read_feature_params(conn)
        takeup, takeup_params, takeup_record = (
            _stored_takeup(conn, features) if weights.model > 0 else (None, _TAKEUP, {})
        )
        params = config.params(takeup_params)
        if not table_exists(conn, PEER_SHARES):
            raise LookupError(
                f"table {PEER_SHARES} is missing: materialize segment_peer_shares (it follows user_segments)"
            )
        shared = {**_SHARED_INPUTS, **({TAKEUP_MODELS: f"SELECT * FROM {TAKEUP_MODELS}"} if takeup is not None else {})}
        context = {
            "shared": whole_table_context(
                conn,
                shared,
                {"parameters": as_record(params), "features": as_record(features), "takeup": takeup_record},
            ),
            "upstream": {table: stored_context(conn, table) for table in (LAYERS_TABLE, FUSED_FEATURES)},
        }
        users = read_frame(conn, f"SELECT user_id, is_cold_start FROM {FUSED_FEATURES} ORDER BY user_id")
        segments = read_frame(conn, f"{SEGMENTS_SQL} ORDER BY user_id")
        # a user's suggestions follow their layers, fused features and peer group (which can move
        # when a segment's size crosses min_segment_size); the rest is in the context
        conn.register("_peer_groups", peer_groups(users, segments, params.min_segment_size))
        fingerprints = read_frame(
            conn,
            "SELECT g.user_id AS key, hash(u.fingerprint, g.peer_group) AS fingerprint FROM _peer_groups g "
            f"LEFT JOIN ({upstream_fingerprints_sql(LAYERS_TABLE, FUSED_FEATURES)}) u ON u.key = g.user_id",
        )
        conn.unregister("_peer_groups")
        changes = find_changes(conn, EXPANSION_TABLE, fingerprints, context, config.full_refresh)
        # everyone's layers: the popular fallback ranks subtopics over all users
        layers = read_frame(conn, f"{LAYERS_SQL} ORDER BY user_id, node_id")
        hierarchy = read_frame(conn, f"{HIERARCHY_SQL} ORDER BY node_id")
        shares = read_frame(conn, f"SELECT * FROM {PEER_SHARES} ORDER BY peer_group, subtopic_id")
        fused = (
            read_for_changes(
                conn, f"SELECT user_id, embedding FROM {FUSED_FEATURES} {{only_changed}} ORDER BY user_id", changes
            )
            if takeup is not None
            else None
        )
    # today's take-up odds of the users rescored: the stored models applied to their stored fused vectors
    signal = None
    if takeup is not None:
        signal = (
            fused["user_id"].to_list(),
            takeup.subtopic_ids,
            takeup.predict(series_to_vectors(fused["embedding"], takeup.coef.shape[1])),
        )
    written = expand_interests(
        layers,
        hierarchy,
        segments,
        users.select("user_id"),
        weights=weights,
        top_n=params.top_n,
        min_segment_size=params.min_segment_size,
        takeup=signal,
        peer_shares=shares,
        score_users=None if changes.full else changes.changed,
    )
    with warehouse.get_connection() as conn:
        store_changes(
            conn,
            changes,
            written,
            "user_id",
            {"expansion": as_record(params), "features": as_record(features)},
            replace_where="is_cold_start_fallback",
        )
        # the metadata describe the whole stored table (an update writes only part of it)
        suggestions = read_frame(
            conn, f"SELECT user_id, rank, score, strongest_signal, is_cold_start_fallback FROM {EXPANSION_TABLE}"
        )

    covered = suggestions["user_id"].n_unique()
    fallback_users = suggestions.filter(pl.col("is_cold_start_fallback"))["user_id"].n_unique()
    flagged = users.filter(pl.col("is_cold_start")).select("user_id")
    reasons = (
        suggestions.group_by("strongest_signal")
        .agg(
            pl.len().alias("suggestions"),
            pl.col("user_id").n_unique().alias("users"),
            pl.col("score").mean().round(3).alias("mean_score"),
        )
        .with_columns((pl.col("suggestions") / max(suggestions.height, 1)).round(3).alias("share"))
        .sort(["suggestions", "strongest_signal"], descending=[True, False])
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": suggestions.height,
            **changes.summary,
            "users_covered": covered,
            "users_without_suggestions": users.height
            - users.join(suggestions.select("user_id").unique(), on="user_id", how="semi").height,
            "users_on_popular_fallback": fallback_users,
            "cold_start_flagged_users_personalised": flagged.join(
                suggestions.filter(~pl.col("is_cold_start_fallback")).select("user_id").unique(),
                on="user_id",
                how="semi",
            ).height,
            "mean_score": round(float(suggestions["score"].mean() or 0.0), 4),
            "mean_top_score": round(float(suggestions.filter(pl.col("rank") == 1)["score"].mean() or 0.0), 4),
            "weights": MetadataValue.json(weights.normalised()),
            "takeup_models": len(takeup.subtopic_ids) if takeup is not None else 0,
            "takeup_train_users": takeup.n_train_users if takeup is not None else 0,
            "takeup_trained_as_of": str(takeup_record.get("reference_ts", "")),
            "feature_parameters": MetadataValue.json(as_record(features)),
            "strongest_signals": MetadataValue.md(markdown_table(reasons)),
            "preview": MetadataValue.md(markdown_table(written.head(12), max_chars=120)),
        }
    )
