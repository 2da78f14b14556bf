"""Checks on text and embeddings: one unit vector of the model's dimension per text, no NaN."""

from dagster import AssetCheckResult, MetadataValue, asset_check
from dagster_duckdb import DuckDBResource


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
