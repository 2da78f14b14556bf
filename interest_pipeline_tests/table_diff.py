"""How far two builds of one warehouse table are apart: the same keys, equal values, floats to a tolerance.

Used by the incremental-update tests and the daily-update benchmark to hold an incremental
refresh against a full recompute of the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl

# The key of each table that the daily refresh updates (one row per key).
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "tokenized_comments": ("comment_id",),
    "comment_embeddings": ("comment_id",),
    "item_embeddings": ("item_id",),
    "user_behavior_features": ("user_id",),
    "user_text_features": ("user_id",),
    "fused_user_features": ("user_id",),
    "incremental_topic_assignments": ("content_kind", "content_id"),
    "user_interest_layers": ("user_id", "level", "node_id"),
    "interest_expansion": ("user_id", "subtopic_id"),
}


@dataclass
class TableDiff:
    table: str
    rows: tuple[int, int]
    keys_only_left: int = 0
    keys_only_right: int = 0
    max_float_difference: float = 0.0
    unequal_columns: dict[str, int] = field(default_factory=dict)  # column -> rows that differ

    def same(self, tolerance: float) -> bool:
        return (
            self.rows[0] == self.rows[1]
            and not self.keys_only_left
            and not self.keys_only_right
            and not self.unequal_columns
            and self.max_float_difference <= tolerance
        )

    def as_dict(self) -> dict:
        return {
            "table": self.table,
            "rows": list(self.rows),
            "keys_only_left": self.keys_only_left,
            "keys_only_right": self.keys_only_right,
            "max_float_difference": self.max_float_difference,
            "unequal_columns": self.unequal_columns,
        }


def _is_float(dtype: pl.DataType) -> bool:
    inner = dtype.inner if isinstance(dtype, pl.List | pl.Array) else dtype  # type: ignore[union-attr]
    return inner in (pl.Float32, pl.Float64)


def _float_difference(left: pl.Series, right: pl.Series) -> float:
    if isinstance(left.dtype, pl.List | pl.Array):
        both = left.is_not_null() & right.is_not_null()
        if not both.any():
            return 0.0
        left, right = left.filter(both), right.filter(both)
        if not left.list.len().equals(right.list.len()):
            return float("inf")
        # exploding keeps this a columnar copy, not millions of Python floats
        a, b = left.explode().cast(pl.Float64).to_numpy(), right.explode().cast(pl.Float64).to_numpy()
    else:
        a, b = left.cast(pl.Float64).to_numpy(), right.cast(pl.Float64).to_numpy()
    gap = np.abs(a - b)
    gap = np.where(np.isnan(a) & np.isnan(b), 0.0, gap)
    return float(np.nan_to_num(gap, nan=np.inf).max(initial=0.0))


def diff_frames(table: str, left: pl.DataFrame, right: pl.DataFrame, keys: tuple[str, ...]) -> TableDiff:
    """Compare two frames row by row on ``keys`` (row order does not matter)."""
    diff = TableDiff(table, (left.height, right.height))
    diff.keys_only_left = left.join(right, on=list(keys), how="anti").height
    diff.keys_only_right = right.join(left, on=list(keys), how="anti").height
    joined = left.join(right, on=list(keys), how="inner", suffix="__right")
    for column in left.columns:
        if column in keys:
            continue
        if column not in right.columns:
            diff.unequal_columns[column] = left.height
            continue
        a, b = joined[column], joined[f"{column}__right"]
        if _is_float(a.dtype) and _is_float(b.dtype):
            nulls_differ = int((a.is_null() != b.is_null()).sum())
            if nulls_differ:
                diff.unequal_columns[column] = nulls_differ
            diff.max_float_difference = max(diff.max_float_difference, _float_difference(a, b))
        else:
            differ = int((~a.eq_missing(b)).sum()) if a.dtype == b.dtype else joined.height
            if differ:
                diff.unequal_columns[column] = differ
    for column in right.columns:
        if column not in left.columns:
            diff.unequal_columns[column] = right.height
    return diff


def diff_tables(left: duckdb.DuckDBPyConnection, right: duckdb.DuckDBPyConnection, table: str) -> TableDiff:
    keys = TABLE_KEYS[table]
    query = f'SELECT * FROM "{table}"'
    return diff_frames(table, left.execute(query).pl(), right.execute(query).pl(), keys)


# Columns that hold the id of the MLflow run a build logged to, or a fingerprint of settings that
# include one: they differ between two builds that are otherwise the same (table -> columns; "*":
# every table).
RUN_SPECIFIC_COLUMNS: dict[str, tuple[str, ...]] = {"*": ("mlflow_run_id",), "input_contexts": ("context",)}


def table_fingerprints(conn: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Every table of the main schema: (rows, sum of the hashes of the whole rows), run-specific
    columns left out. Equal fingerprints mean equal tables, row order aside."""
    fingerprints = {}
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY table_name"
    ).fetchall()
    for (table,) in tables:
        skipped = RUN_SPECIFIC_COLUMNS["*"] + RUN_SPECIFIC_COLUMNS.get(table, ())
        columns = [
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ? "
                "ORDER BY ordinal_position",
                [table],
            ).fetchall()
            if name not in skipped
        ]
        row = "struct_pack(" + ", ".join(f'"{c}" := "{c}"' for c in columns) + ")::VARCHAR"
        count, hashes = conn.execute(f'SELECT count(*), coalesce(sum(hash({row})), 0) FROM "{table}"').fetchone()
        fingerprints[table] = (count, int(hashes))
    return fingerprints
