"""Checks on text and embeddings: one unit vector of the model's dimension per text, no NaN, and a model that
reads the languages the comments are written in."""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check
from dagster_duckdb import DuckDBResource

from interest_pipeline.core.text.languages import MAX_UNREAD_SHARE, language_coverage, model_languages
from interest_pipeline.core.text.models import model_of_cache_key
from interest_pipeline.core.text.use_backend import PACKAGED_MULTILINGUAL_MODEL
from interest_pipeline.defs.warehouse import read_parameters


def _embedding_problems(conn, table: str, source_sql: str) -> tuple[list[str], dict]:
    stats = conn.execute(
        f"SELECT count(*), count(DISTINCT len(embedding)), min(len(embedding)),"
        f" max(abs(sqrt(list_dot_product(embedding, embedding)) - 1)),"
        # a NaN anywhere makes the dot product NaN: one pass over the floats finds both problems
        f" count(*) FILTER (WHERE isnan(list_dot_product(embedding, embedding)))"
        f" FROM {table}"
    ).fetchone()
    rows, n_dims, dim, worst_norm_error, with_nan = stats
    expected = conn.execute(source_sql).fetchone()[0]
    problems = []
    if rows != expected:
        problems.append(f"{rows} embeddings for {expected} texts")
    if n_dims and n_dims > 1:
        problems.append(f"{n_dims} different dimensions")
    if with_nan:
        problems.append(f"{with_nan} embeddings contain NaN")
    if worst_norm_error is not None and worst_norm_error > 1e-3:
        problems.append(f"norm off unit length by up to {worst_norm_error:.4f}")
    return problems, {"rows": rows, "dimension": dim or 0, "max_norm_error": float(worst_norm_error or 0.0)}


@asset_check(
    asset="comment_embeddings",
    name="one_unit_vector_per_text",
    description="One embedding per non-empty comment, one dimension, unit norm, no NaN.",
)
def comment_embeddings_valid(warehouse: DuckDBResource) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        problems, metadata = _embedding_problems(
            conn, "comment_embeddings", "SELECT count(*) FROM tokenized_comments WHERE text_clean <> ''"
        )
    return AssetCheckResult(
        passed=not problems, metadata={**metadata, "problems": MetadataValue.md("\n".join(problems) or "none")}
    )


@asset_check(
    asset="item_embeddings",
    name="one_unit_vector_per_text",
    description="One embedding per item with text, one dimension, unit norm, no NaN.",
)
def item_embeddings_valid(warehouse: DuckDBResource) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        problems, metadata = _embedding_problems(
            conn, "item_embeddings", "SELECT count(*) FROM item_catalog WHERE text_clean <> ''"
        )
    return AssetCheckResult(
        passed=not problems, metadata={**metadata, "problems": MetadataValue.md("\n".join(problems) or "none")}
    )


@asset_check(
    asset="comment_embeddings",
    name="model_reads_the_comments_languages",
    description=f"Warns when more than {MAX_UNREAD_SHARE:.0%} of the comments are in languages the embedding model "
    "does not read (an English model turns Chinese into unknown word pieces and its clusters into noise).",
)
def comment_languages_read(warehouse: DuckDBResource) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        counts = dict(
            conn.execute(
                "SELECT t.language, count(*) FROM comment_embeddings e JOIN tokenized_comments t USING (comment_id) "
                "GROUP BY t.language"
            ).fetchall()
        )
        built_with = read_parameters(conn, "comment_embeddings")
    model = model_of_cache_key(built_with["model"])
    read = model_languages(model)
    coverage = language_coverage(counts, read)
    unread = ", ".join(f"{lang} {n:,d}" for lang, n in coverage.unread.items()) or "none"
    fix = (
        f"set INTEREST_PIPELINE_MODEL (the embedder's model) to auto or {PACKAGED_MULTILINGUAL_MODEL} (packaged), or to "
        "a sentence-transformers model that reads them, by name or folder (e.g. paraphrase-multilingual-MiniLM-L12-v2, "
        "bge-small-zh-v1.5), then rebuild the embeddings"
    )
    return AssetCheckResult(
        passed=not coverage.too_much_unread(),
        severity=AssetCheckSeverity.WARN,
        description=(
            f"{coverage.unread_share:.1%} of {coverage.texts:,d} comments are in languages {model} "
            f"does not read ({unread}): {fix}"
            if coverage.too_much_unread()
            else f"{coverage.unread_share:.1%} of the comments are in languages {model} does not read"
        ),
        metadata={
            "model": model,
            "model_reason": built_with.get("model_reason", ""),
            "model_reads": ", ".join(sorted(read)),
            "unread_share": round(coverage.unread_share, 4),
            "unread_texts": MetadataValue.json(coverage.unread),
            "texts_per_language": MetadataValue.json({k or "(no letters)": v for k, v in sorted(counts.items())}),
        },
    )
