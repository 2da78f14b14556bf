"""Text: cleaned and tokenized user text, and sentence-transformer embeddings (cached).

All three tables are kept row by row (:mod:`interest_pipeline.defs.incremental`): a new day
tokenizes and embeds only the texts it brought, and a re-ingested day only the rows it changed.
"""

import time

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue
from dagster_duckdb import DuckDBResource

from interest_pipeline.core.common.tokenize import tokenize_frame
from interest_pipeline.core.common.vectors import vectors_to_series
from interest_pipeline.core.text.encoding import progress_logger
from interest_pipeline.defs.conventions import follow_new_data, warehouse_asset
from interest_pipeline.defs.incremental import (
    RebuildConfig,
    find_changes,
    key_fingerprints,
    read_for_changes,
    store_changes,
)
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.resources import SentenceEmbedder
from interest_pipeline.defs.warehouse import EmbeddingOutcome, embed_with_cache, read_frame, texts_per_language


@warehouse_asset(
    deps=["raw_behavior_logs"],
    automation_condition=follow_new_data,
    kinds={"polars"},
    description="User text (review comments and search queries): HTML, URLs and control characters removed, "
    "unicode normalised, and word tokens without stop words (Chinese segmented with jieba).",
)
def tokenized_comments(config: RebuildConfig, warehouse: DuckDBResource) -> MaterializeResult:
    start = time.perf_counter()
    with warehouse.get_connection() as conn:
        source = (
            "SELECT event_id AS comment_id, user_id, item_id, event_type, event_ts, text "
            "FROM raw_behavior_logs WHERE text IS NOT NULL"
        )
        fingerprints = key_fingerprints(
            conn, source, "comment_id", ["user_id", "item_id", "event_type", "event_ts", "text"]
        )
        changes = find_changes(conn, "tokenized_comments", fingerprints, {}, config.full_refresh)
        comments = read_for_changes(
            conn, f"SELECT * FROM ({source}) {{only_changed}} ORDER BY comment_id", changes, "comment_id"
        )
        tokenized = tokenize_frame(comments, text_column="text")
        store_changes(conn, changes, tokenized, "comment_id")
        total, empty = conn.execute(
            "SELECT count(*), count(*) FILTER (text_clean = '') FROM tokenized_comments"
        ).fetchone()
        languages = read_frame(
            conn,
            "SELECT language, count(*) AS len FROM tokenized_comments GROUP BY language ORDER BY len DESC, language",
        )
    return MaterializeResult(
        metadata={
            "dagster/row_count": total,
            **changes.summary,
            "empty_after_cleaning": empty,
            "languages": MetadataValue.md(markdown_table(languages)),
            "seconds": round(time.perf_counter() - start, 2),
            "preview": MetadataValue.md(
                markdown_table(tokenized.select("comment_id", "event_type", "language", "text_clean", "tokens"))
            ),
        }
    )


def _chosen_embedder(conn, embedder: SentenceEmbedder) -> tuple[SentenceEmbedder, dict]:
    """The embedder with ``auto`` resolved on the comments and the catalogue together (both
    embedding assets see the same texts, so they choose the same model), and the parameters stored
    with the table: the model, why, and the languages it was chosen on."""
    languages = texts_per_language(conn)
    chosen, choice = embedder.for_languages(languages)
    return chosen, {
        "model": chosen.cache_key(),
        "model_setting": embedder.model,
        "model_reason": choice.reason,
        "texts_per_language": {k or "(no letters)": v for k, v in sorted(languages.items())},
    }


def _embedding_metadata(
    outcome: EmbeddingOutcome, rows: int, embedder: SentenceEmbedder, changes, model_record: dict
) -> dict:
    return {
        "dagster/row_count": rows,
        **changes.summary,
        "model": model_record["model"],
        "model_reason": model_record["model_reason"],
        "precision": embedder.resolved_precision(),
        "distinct_texts": outcome.n_distinct,
        "texts_embedded": outcome.n_embedded,
        "texts_from_cache": outcome.n_from_cache,
        "encode_seconds": round(outcome.encode_seconds, 2),
        "texts_per_second": round(outcome.texts_per_second, 1) if outcome.n_embedded else 0.0,
        "dimension": int(outcome.vectors.shape[1]) if outcome.vectors.size else 0,
    }


def _encoder_logging_progress(context: AssetExecutionContext, embedder: SentenceEmbedder, what: str):
    """``embedder.encode`` that logs "comments: 2,048 / 5,601 texts, 210/s" as batches finish."""
    progress = progress_logger(lambda line: context.log.info(f"{what}: {line}"))
    return lambda texts: embedder.encode(texts, progress=progress)


@warehouse_asset(
    deps=["tokenized_comments", "item_catalog"],
    automation_condition=follow_new_data,
    kinds={"sentence-transformers"},
    description="One L2-normalised embedding (FLOAT[]) per non-empty comment; each distinct text is embedded once "
    "and cached by (model, text hash) across runs and backfills. The model ('auto') is chosen by the languages of "
    "the comments and the catalogue together.",
)
def comment_embeddings(
    context: AssetExecutionContext, config: RebuildConfig, warehouse: DuckDBResource, embedder: SentenceEmbedder
) -> MaterializeResult:
    with warehouse.get_connection() as conn:
        embedder, model_record = _chosen_embedder(conn, embedder)
        source = "SELECT comment_id, user_id, item_id, event_type, event_ts, text_clean FROM tokenized_comments WHERE text_clean <> ''"
        fingerprints = key_fingerprints(
            conn, source, "comment_id", ["user_id", "item_id", "event_type", "event_ts", "text_clean"]
        )
        changes = find_changes(
            conn, "comment_embeddings", fingerprints, {"model": embedder.cache_key()}, config.full_refresh
        )
        comments = read_for_changes(
            conn, f"SELECT * FROM ({source}) {{only_changed}} ORDER BY comment_id", changes, "comment_id"
        )
        outcome = embed_with_cache(
            conn,
            comments["text_clean"].to_list(),
            embedder.cache_key(),
            _encoder_logging_progress(context, embedder, "comments"),
        )
        table = comments.select("comment_id", "user_id", "item_id", "event_type", "event_ts").with_columns(
            pl.Series("text_hash", outcome.hashes, dtype=pl.String), vectors_to_series("embedding", outcome.vectors)
        )
        store_changes(conn, changes, table, "comment_id", parameters=model_record)
        total = conn.execute("SELECT count(*) FROM comment_embeddings").fetchone()[0]
    context.log.info(
        f"comments: {outcome.n_embedded} embedded, {outcome.n_from_cache} from cache ({changes.summary['update']} update)"
    )
    return MaterializeResult(metadata=_embedding_metadata(outcome, total, embedder, changes, model_record))


@warehouse_asset(
    deps=["item_catalog", "tokenized_comments"],
    automation_condition=follow_new_data,
    kinds={"sentence-transformers"},
    description="One L2-normalised embedding (FLOAT[]) per item from its title and description, cached like comments, "
    "by the same model.",
)
def item_embeddings(
    context: AssetExecutionContext, config: RebuildConfig, warehouse: DuckDBResource, embedder: SentenceEmbedder
) -> MaterializeResult:
    with warehouse.get_connection() as conn:
        embedder, model_record = _chosen_embedder(conn, embedder)
        source = "SELECT item_id, text_clean FROM item_catalog WHERE text_clean <> ''"
        changes = find_changes(
            conn,
            "item_embeddings",
            key_fingerprints(conn, source, "item_id", ["text_clean"]),
            {"model": embedder.cache_key()},
            config.full_refresh,
        )
        items = read_for_changes(
            conn, f"SELECT * FROM ({source}) {{only_changed}} ORDER BY item_id", changes, "item_id"
        )
        outcome = embed_with_cache(
            conn,
            items["text_clean"].to_list(),
            embedder.cache_key(),
            _encoder_logging_progress(context, embedder, "items"),
        )
        table = items.select("item_id").with_columns(
            pl.Series("text_hash", outcome.hashes, dtype=pl.String), vectors_to_series("embedding", outcome.vectors)
        )
        store_changes(conn, changes, table, "item_id", parameters=model_record)
        total = conn.execute("SELECT count(*) FROM item_embeddings").fetchone()[0]
    context.log.info(
        f"items: {outcome.n_embedded} embedded, {outcome.n_from_cache} from cache ({changes.summary['update']} update)"
    )
    return MaterializeResult(metadata=_embedding_metadata(outcome, total, embedder, changes, model_record))
