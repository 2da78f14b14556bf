"""The declared columns of every warehouse table, shown in Dagster's Columns section.

One ``TableSchema`` per DuckDB table (names, DuckDB types, the README's wording), attached to
each table asset's definition as ``dagster/column_schema`` and ``dagster/table_name`` by
``with_table_schemas`` in ``definitions.py``, so no asset file repeats them. The check
``schema_and_non_null`` of every table compares the stored table with its declaration (columns,
types, and no nulls where a column is declared not nullable), so a change of columns must change
the declaration (and the README) too.

Dagster's ``build_column_schema_change_checks`` do not fit here: they compare the
``dagster/column_schema`` of a materialization's metadata with the previous materialization's,
which needs every asset to report it at run time (an edit of every asset), and they catch a change
between two runs, not a table that differs from its documentation on its first run.
"""

from __future__ import annotations

import warnings

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetSpec,
    Definitions,
    MetadataValue,
    PreviewWarning,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
    asset_check,
)
from dagster_duckdb import DuckDBResource

REQUIRED = TableColumnConstraints(nullable=False)


def _column(name: str, type_: str, description: str, required: bool = False) -> TableColumn:
    return TableColumn(name, type_, description, constraints=REQUIRED if required else None)


def _embedding(what: str, required: bool = True) -> TableColumn:
    return _column("embedding", "FLOAT[]", f"{what} (unit norm)", required=required)


_EVENT_COLUMNS = [
    _column("user_id", "VARCHAR", "the user (a keyed pseudonym when pseudonymising)", required=True),
    _column("item_id", "VARCHAR", "the item (null for a search)"),
    _column(
        "event_type", "VARCHAR", "view, click, favorite, add_to_cart, purchase, rate, review or search", required=True
    ),
    _column("event_ts", "TIMESTAMP", "event time (UTC)", required=True),
]
_SOURCE_COLUMNS = [
    _column("source_file", "VARCHAR", "the file the row was read from", required=True),
    _column("source_row", "BIGINT", "line number (header = 1; Parquet rows from 1)", required=True),
    _column(
        "raw_row",
        "VARCHAR",
        "JSON of the fields as read (protected: pseudonyms, masked contact details)",
        required=True,
    ),
    _column("reason", "VARCHAR", "why the row was rejected", required=True),
]
_CLUSTER_COLUMNS = [
    _column("is_noise", "BOOLEAN", "HDBSCAN left the point as noise", required=True),
    _column("noise_assigned", "BOOLEAN", "a noise point placed in its nearest cluster", required=True),
    _column(
        "membership_probability",
        "FLOAT",
        "HDBSCAN's membership strength; for points placed after a sampled fit, the cosine to their cluster",
    ),
    _column("mlflow_run_id", "VARCHAR", "the MLflow run of the clustering", required=True),
]


def _text_columns(tokens_required: bool) -> list[TableColumn]:
    return [
        _column("text_clean", "VARCHAR", "the text normalised for tokenizing", required=True),
        _column("language", "VARCHAR", "en, zh or other"),
        _column("tokens", "VARCHAR[]", "tokens without stop words", required=tokens_required),
        _column("n_tokens", "UINTEGER", "number of tokens"),
    ]


TABLE_SCHEMAS: dict[str, TableSchema] = {
    "raw_behavior_logs": TableSchema(
        [
            _column("log_date", "DATE", "the partition: log date in the file name", required=True),
            _column(
                "event_id", "VARCHAR", "unique id; a hash of the row's content when the input has none", required=True
            ),
            *_EVENT_COLUMNS,
            _column("device", "VARCHAR", "context, as given (contact details masked)"),
            _column("location", "VARCHAR", "context, as given (contact details masked)"),
            _column("rating", "DOUBLE", "1 to 5, for rate events"),
            _column("text", "VARCHAR", "review comment or search query (contact details masked)"),
            *_SOURCE_COLUMNS[:2],
        ]
    ),
    "rejected_events": TableSchema(
        [
            _column("log_date", "DATE", "the partition: log date in the file name", required=True),
            *_SOURCE_COLUMNS,
        ]
    ),
    "item_catalog": TableSchema(
        [
            _column("item_id", "VARCHAR", "the item", required=True),
            _column("title", "VARCHAR", "the title, or one derived from the other fields", required=True),
            _column(
                "title_derived",
                "BOOLEAN",
                "the title was derived (description's first sentence, category, store or brand)",
                required=True,
            ),
            _column("description", "VARCHAR", "the description, as given"),
            # The catalogue's own columns (category, subcategory, category_path, brand, price, ...)
            # follow the description as text; they vary with the input (see OPEN_TABLES).
            _column("item_text", "VARCHAR", "title and description: the text that represents the item", required=True),
            *_text_columns(tokens_required=False),
        ]
    ),
    "rejected_items": TableSchema(_SOURCE_COLUMNS),
    "tokenized_comments": TableSchema(
        [
            _column("comment_id", "VARCHAR", "the event id of the review or search", required=True),
            *_EVENT_COLUMNS,
            _column("text", "VARCHAR", "review or search text (contact details masked)", required=True),
            *_text_columns(tokens_required=True),
        ]
    ),
    "comment_embeddings": TableSchema(
        [
            _column("comment_id", "VARCHAR", "the event id of the review or search", required=True),
            *_EVENT_COLUMNS,
            _column("text_hash", "VARCHAR", "hash of the embedded text (key of the embedding cache)", required=True),
            _embedding("sentence-transformer embedding of the text"),
        ]
    ),
    "item_embeddings": TableSchema(
        [
            _column("item_id", "VARCHAR", "the item", required=True),
            _column(
                "text_hash", "VARCHAR", "hash of the embedded item text (key of the embedding cache)", required=True
            ),
            _embedding("sentence-transformer embedding of the item text"),
        ]
    ),
    "user_behavior_features": TableSchema(
        [
            _column("user_id", "VARCHAR", "the user", required=True),
            _column("n_events", "BIGINT", "events of the user"),
            _column("active_days", "BIGINT", "days with at least one event"),
            _column("first_event_ts", "TIMESTAMP", "first event (UTC)"),
            _column("last_event_ts", "TIMESTAMP", "last event (UTC)"),
            *[
                _column(f"n_{t}", "BIGINT", f"{t} events")
                for t in ("view", "click", "favorite", "add_to_cart", "purchase", "rate", "review", "search")
            ],
            _column("recency_days", "DOUBLE", "days from the last event to the newest event in the warehouse"),
            _embedding(
                "X_u: decayed, weighted mean of the embeddings of the items the user touched; null without behaviour",
                required=False,
            ),
            _column("has_behavior", "BOOLEAN", "the user has events on embedded items", required=True),
        ]
    ),
    "user_text_features": TableSchema(
        [
            _column("user_id", "VARCHAR", "the user", required=True),
            _column("n_texts", "BIGINT", "review and search texts of the user"),
            _embedding("X_t: decayed mean of the embeddings of the user's texts"),
        ]
    ),
    "fused_user_features": TableSchema(
        [
            _column("user_id", "VARCHAR", "the user", required=True),
            _column("n_events", "BIGINT", "events of the user"),
            _column("has_behavior", "BOOLEAN", "the user has a behaviour vector", required=True),
            _column("has_text", "BOOLEAN", "the user has a text vector", required=True),
            _column("is_cold_start", "BOOLEAN", "fewer events than min_events", required=True),
            _column("alpha", "DOUBLE", "weight of behaviour against text"),
            _embedding("X: alpha · X_u + (1 - alpha) · X_t"),
        ]
    ),
    "interest_topics": TableSchema(
        [
            _column("content_id", "VARCHAR", "item id or comment id", required=True),
            _column("content_kind", "VARCHAR", "item or comment", required=True),
            _column("subtopic_id", "VARCHAR", "the subtopic (t03.s012)"),
            _column("topic_id", "VARCHAR", "the topic (t03)"),
            *_CLUSTER_COLUMNS,
        ]
    ),
    "interest_hierarchy": TableSchema(
        [
            _column("node_id", "VARCHAR", "root, t03, t03.s012", required=True),
            _column("level", "VARCHAR", "root, topic or subtopic", required=True),
            _column("parent_id", "VARCHAR", "the parent node (null for the root)"),
            _column("size", "BIGINT", "items and comments in the node"),
            _column("label", "VARCHAR", "readable label from the keywords"),
            _column("keywords", "VARCHAR[]", "c-TF-IDF keywords"),
            _column("centroid", "FLOAT[]", "mean embedding of the node's points"),
            _column(
                "dominant_category",
                "VARCHAR",
                "the catalogue category most of the node's items have (null without catalogue categories)",
            ),
            _column("dominant_category_share", "DOUBLE", "share of the node's items in that category"),
            _column("mlflow_run_id", "VARCHAR", "the MLflow run of the clustering", required=True),
        ]
    ),
    "incremental_topic_assignments": TableSchema(
        [
            _column("content_id", "VARCHAR", "item id or comment id newer than the last clustering", required=True),
            _column("content_kind", "VARCHAR", "item or comment", required=True),
            _column("subtopic_id", "VARCHAR", "nearest subtopic (null when noise)"),
            _column("topic_id", "VARCHAR", "its topic (null when noise)"),
            _column("similarity", "FLOAT", "cosine to the nearest subtopic centroid"),
            _column("is_noise", "BOOLEAN", "below the similarity threshold", required=True),
            _column(
                "taxonomy_mlflow_run_id",
                "VARCHAR",
                "the MLflow run of the taxonomy the centroids come from",
                required=True,
            ),
        ]
    ),
    "user_segments": TableSchema(
        [
            _column("user_id", "VARCHAR", "the user", required=True),
            _column("is_cold_start", "BOOLEAN", "fewer events than min_events", required=True),
            _column("segment_coarse", "VARCHAR", "coarse segment (g02)"),
            _column("segment_fine", "VARCHAR", "fine segment (g02.f007)"),
            *_CLUSTER_COLUMNS,
        ]
    ),
    "interest_expansion": TableSchema(
        [
            _column("user_id", "VARCHAR", "the user", required=True),
            _column("rank", "BIGINT", "1 = best suggestion", required=True),
            _column("subtopic_id", "VARCHAR", "the suggested subtopic", required=True),
            _column("topic_id", "VARCHAR", "its topic"),
            _column("score", "DOUBLE", "weighted sum of the signals, 0..1"),
            _column(
                "hierarchy_signal",
                "DOUBLE",
                "share of the user's core and secondary interests among the subtopic's siblings",
            ),
            _column("peer_signal", "DOUBLE", "share of the user's segment holding the subtopic as core or secondary"),
            _column("similarity_signal", "DOUBLE", "cosine between the subtopic centroid and the user's profile"),
            _column("model_signal", "DOUBLE", "take-up probability divided by the user's largest one"),
            _column("takeup_probability", "DOUBLE", "raw probability of the take-up model"),
            _column("strongest_signal", "VARCHAR", "the signal contributing most"),
            _column("reason", "VARCHAR", 'readable reason, e.g. "38% of users in segment g01.f004 have it"'),
            _column("is_cold_start_fallback", "BOOLEAN", "a popular subtopic for a user without layers", required=True),
        ]
    ),
    "item_recommendations": TableSchema(
        [
            _column("user_id", "VARCHAR", "the user", required=True),
            _column("rank", "BIGINT", "1 = best item", required=True),
            _column("item_id", "VARCHAR", "the recommended item (the user has no event on it)", required=True),
            _column("score", "DOUBLE", "the shipped ranker's score"),
            _column("subtopic_id", "VARCHAR", "the interest it serves: the item's subtopic"),
            _column("topic_id", "VARCHAR", "the subtopic's topic"),
            _column(
                "serves",
                "VARCHAR",
                "core, secondary or peripheral (the subtopic's tier in the user's layers), new_subtopic (of a topic the user holds), new_topic or unplaced",
                required=True,
            ),
            _column("interest_term", "VARCHAR", "long or short: the term whose tier is given (null for new interests)"),
            _column(
                "source",
                "VARCHAR",
                "collaborative (history mixed with the layers), layers (no collaborative signal) or popular",
                required=True,
            ),
            _column(
                "reason",
                "VARCHAR",
                'readable reason, e.g. \'core interest "Space opera" (topic "Sci-fi"), long term\'',
                required=True,
            ),
        ]
    ),
    "segment_peer_shares": TableSchema(
        [
            _column("peer_group", "VARCHAR", "fine:<segment>, coarse:<segment> or all", required=True),
            _column("subtopic_id", "VARCHAR", "a subtopic some member holds as core or secondary", required=True),
            _column("members", "BIGINT", "users in the group", required=True),
            _column(
                "share",
                "DOUBLE",
                "share of the members with the subtopic as core or secondary (long term)",
                required=True,
            ),
        ]
    ),
    "takeup_models": TableSchema(
        [
            _column("subtopic_id", "VARCHAR", "the modelled subtopic", required=True),
            _column("coef", "DOUBLE[]", "logistic-regression coefficients over the fused user vector", required=True),
            _column("intercept", "DOUBLE", "its intercept", required=True),
            _column(
                "n_positives",
                "BIGINT",
                "users who first engaged with the subtopic in the training window",
                required=True,
            ),
        ]
    ),
    "user_interest_layers": TableSchema(
        [
            _column("user_id", "VARCHAR", "the user", required=True),
            _column("level", "VARCHAR", "topic or subtopic", required=True),
            _column("node_id", "VARCHAR", "the taxonomy node", required=True),
            _column("parent_id", "VARCHAR", "its parent node"),
            _column(
                "weight_long",
                "DOUBLE",
                "weighted interactions, decayed from the user's latest event (half-life 90 days)",
            ),
            _column(
                "weight_short",
                "DOUBLE",
                "weighted interactions, decayed from the user's latest event (half-life 7 days, or 3 events)",
            ),
            _column("n_interactions", "BIGINT", "events and texts on the node"),
            _column("last_interaction_ts", "TIMESTAMP", "last interaction (UTC)"),
            _column("share_long", "DOUBLE", "the node's share of the user's long-term total"),
            _column("rank_long", "BIGINT", "rank by long-term share"),
            _column("tier_long", "VARCHAR", "core, secondary or peripheral (long term)"),
            _column("share_short", "DOUBLE", "the node's share of the user's short-term total"),
            _column("rank_short", "BIGINT", "rank by short-term share"),
            _column("tier_short", "VARCHAR", "core, secondary or peripheral (short term)"),
            _column("trend", "VARCHAR", "emerging, fading or stable"),
            _column("drift_score", "DOUBLE", "total variation distance between short- and long-term shares, per level"),
            _column(
                "source", "VARCHAR", "activity, or popular for users with nothing placed in the taxonomy", required=True
            ),
            _column("is_cold_start", "BOOLEAN", "fewer events than min_events", required=True),
            _column(
                "fallback_reason",
                "VARCHAR",
                "why a row is the popular fallback: cold_start, items_not_in_catalogue or nothing_placed (null for layers of the user's own)",
            ),
        ]
    ),
    "interest_evaluation": TableSchema(
        [
            _column(
                "method",
                "VARCHAR",
                "interest layers, most popular, random, mean embedding, K-Means segments, …",
                required=True,
            ),
            _column(
                "metric",
                "VARCHAR",
                "precision@k, recall@k, MAP@k, nDCG@k, AUC, MRR, impression_*, coverage@20 (share of the user's test-period "
                "subtopics in the top 20), diversity@20 (distinct subtopics in the top 20 / 20), paired *_vs_* differences "
                "and expansion metrics",
                required=True,
            ),
            _column("value", "DOUBLE", "the metric's value"),
            _column(
                "user_group",
                "VARCHAR",
                "with_history (users with training events) or cold_start (users without), scored apart; light_history, "
                "medium_history, heavy_history: the users with history by tertile of their training events (nDCG@10 and coverage@20)",
                required=True,
            ),
            _column("protocol", "VARCHAR", "the split: per_user, leave_last_one or global_cutoff", required=True),
            _column(
                "reference_ts",
                "TIMESTAMP",
                "the latest user boundary between training and test events (the cutoff under global_cutoff, UTC)",
            ),
            _column(
                "n_users_scored", "BIGINT", "users of the row's group scored (a seeded sample of at most max_users)"
            ),
        ]
    ),
}

# Tables that hold the input's own columns besides the declared ones (as text).
OPEN_TABLES = frozenset({"item_catalog"})


def table_name(table: str, database: str) -> str:
    """The fully qualified name, as DuckDB names it: <file stem>.main.<table>."""
    return f"{database}.main.{table}"


def with_table_schemas(defs: Definitions, database: str) -> Definitions:
    """The definitions with every table asset's column schema and table name declared."""

    def declare(spec: AssetSpec) -> AssetSpec:
        table = spec.key.to_user_string()
        if table not in TABLE_SCHEMAS:
            return spec
        return spec.merge_attributes(
            metadata={"dagster/column_schema": TABLE_SCHEMAS[table], "dagster/table_name": table_name(table, database)}
        )

    # The mapping is a preview feature of Dagster 1.13; its warning would show on every load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return defs.map_asset_specs(func=declare)


def schema_differences(table: str, stored: list[tuple[str, str]], null_counts: dict[str, int]) -> list[str]:
    """What differs between a stored table (column names and types, in order) and its declaration."""
    declared = [(c.name, c.type) for c in TABLE_SCHEMAS[table].columns]
    found = dict(stored)
    problems = [f"missing column {name}" for name, _ in declared if name not in found]
    problems += [
        f"{name} is {found[name]}, declared {type_}"
        for name, type_ in declared
        if name in found and found[name] != type_
    ]
    extra = [(name, type_) for name, type_ in stored if name not in dict(declared)]
    if table in OPEN_TABLES:
        extra = [(name, type_) for name, type_ in extra if type_ != "VARCHAR"]
    problems += [f"undeclared column {name} ({type_})" for name, type_ in extra]
    problems += [f"{name} has {n} nulls" for name, n in null_counts.items() if n]
    return problems


def _required_columns(table: str) -> list[str]:
    return [c.name for c in TABLE_SCHEMAS[table].columns if c.constraints and not c.constraints.nullable]


def schema_check_result(conn, table: str) -> AssetCheckResult:
    """``schema_and_non_null`` of ``table``: its stored columns and types against the declaration,
    and the nulls in its required columns."""
    required = _required_columns(table)
    stored = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? AND table_schema = 'main' "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    present = {name for name, _ in stored}
    null_counts = {
        c: conn.execute(f'SELECT count(*) FROM "{table}" WHERE "{c}" IS NULL').fetchone()[0]
        for c in required
        if c in present
    }
    problems = schema_differences(table, stored, null_counts)
    return AssetCheckResult(
        asset_key=table,
        check_name=SCHEMA_CHECK,
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "problems": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
            "columns": len(stored),
        },
    )


SCHEMA_CHECK = "schema_and_non_null"


def _columns_check(table: str):
    required = _required_columns(table)

    @asset_check(
        asset=table,
        name=SCHEMA_CHECK,
        description=f"The stored {table} has the declared columns and types (Columns section), and no nulls in {', '.join(required) or 'no column'}.",
        blocking=False,
    )
    def _check(warehouse: DuckDBResource) -> AssetCheckResult:
        with warehouse.get_connection() as conn:
            return schema_check_result(conn, table)

    return _check


COLUMNS_CHECKS = {table: _columns_check(table) for table in TABLE_SCHEMAS}
