"""What several stages read the same way, so that no stage imports another: the reference time,
the users' subtopic interactions, their history, the parameters of their fused features, and the
shipped ranker's settings as the evaluation chose them."""

from __future__ import annotations

import datetime as dt

import duckdb

from interest_pipeline.core.common.vectors import series_to_vectors
from interest_pipeline.core.evaluation.layered_collaborative import ShippedRankerSettings
from interest_pipeline.core.features.user_features import Embeddings, TextEmbeddings, UserFeatureParams, UserHistory
from interest_pipeline.defs.params import from_record
from interest_pipeline.defs.warehouse import read_frame, read_parameters

FUSED_FEATURES = "fused_user_features"
LAYERS_TABLE = "user_interest_layers"
EVALUATION_TABLE = "interest_evaluation"
# the key of the shipped ranker's chosen settings among interest_evaluation's stored parameters
SHIPPED_SETTINGS = "shipped_ranker"

# Item events count through the item's subtopic, texts (reviews, searches) through their own.
INTERACTIONS_UNORDERED_SQL = """
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
"""
# a fixed order makes the floating-point sums, and so re-runs, identical
INTERACTIONS_ORDER_BY = "ORDER BY user_id, event_ts, subtopic_id, event_type"
INTERACTIONS_SQL = f"{INTERACTIONS_UNORDERED_SQL}{INTERACTIONS_ORDER_BY}\n"


def reference_time(conn: duckdb.DuckDBPyConnection) -> dt.datetime:
    """The newest event in the warehouse: recency and the take-up window are measured to it, not to the
    wall clock, so re-runs agree."""
    newest = conn.execute("SELECT max(event_ts) FROM raw_behavior_logs").fetchone()[0]
    if newest is None:
        raise ValueError("raw_behavior_logs is empty: materialize at least one partition first")
    return newest


def read_user_history(conn: duckdb.DuckDBPyConnection) -> UserHistory:
    """Every event, every comment embedding and every item embedding, in a fixed order."""
    events = read_frame(
        conn,
        "SELECT event_id, user_id, item_id, event_type, event_ts FROM raw_behavior_logs ORDER BY user_id, event_ts, event_id",
    )
    items = read_frame(conn, "SELECT item_id, embedding FROM item_embeddings ORDER BY item_id")
    item_vectors = series_to_vectors(items["embedding"], 0)
    comments = read_frame(
        conn, "SELECT comment_id, user_id, event_ts, embedding FROM comment_embeddings ORDER BY comment_id"
    )
    texts = TextEmbeddings(
        comments.select("user_id", "event_ts"), series_to_vectors(comments["embedding"], item_vectors.shape[1])
    )
    return UserHistory(events, texts, Embeddings(items["item_id"].to_list(), item_vectors))


def read_feature_params(conn: duckdb.DuckDBPyConnection) -> UserFeatureParams:
    """The parameters ``fused_user_features`` was built with (its own and those of the behaviour
    and text features it fused), for consumers that rebuild fused vectors as of another time."""
    return from_record(UserFeatureParams, read_parameters(conn, FUSED_FEATURES), FUSED_FEATURES)


def read_shipped_settings(conn: duckdb.DuckDBPyConnection) -> ShippedRankerSettings:
    """The shipped ranker's settings that the last ``interest_evaluation`` chose on its validation slice."""
    stored = read_parameters(conn, EVALUATION_TABLE)
    if SHIPPED_SETTINGS not in stored:
        raise LookupError(
            f"{EVALUATION_TABLE} has stored no shipped ranker settings: materialize {EVALUATION_TABLE} (it chooses them) first"
        )
    return from_record(ShippedRankerSettings, stored[SHIPPED_SETTINGS], EVALUATION_TABLE)
