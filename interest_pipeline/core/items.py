"""Reading and validating the item catalogue."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from interest_pipeline.core.events import EventFileError

ITEM_REQUIRED_COLUMNS = ("item_id", "title")

REJECTED_ITEMS_SCHEMA = {"source_file": pl.String(), "source_row": pl.Int64(), "raw_row": pl.String(), "reason": pl.String()}


def read_item_file(path: Path) -> pl.DataFrame:
    """All columns as strings plus ``source_row`` (line number for CSV/JSONL, counting a CSV header)."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise EventFileError(f"{path}: item catalogue file not found")
    try:
        if suffix == ".csv":
            frame = pl.read_csv(path, infer_schema=False, row_index_name="source_row", row_index_offset=2)
        elif suffix in (".jsonl", ".ndjson"):
            frame = pl.read_ndjson(path, infer_schema_length=None).with_row_index("source_row", offset=1)
        elif suffix == ".parquet":
            frame = pl.read_parquet(path).with_row_index("source_row", offset=1)
        else:
            raise EventFileError(f"{path}: unsupported file type {suffix!r} (use .csv, .jsonl or .parquet)")
    except EventFileError:
        raise
    except Exception as exc:
        raise EventFileError(f"{path}: cannot be read as {suffix.lstrip('.')}: {exc}") from exc
    names = [c for c in frame.columns if c != "source_row"]
    normalised = [c.strip().lower() for c in names]
    repeated = sorted({c for c in normalised if normalised.count(c) > 1})
    if repeated:
        raise EventFileError(f"{path}: the header holds column(s) {', '.join(repr(c) for c in repeated)} more than once")
    frame = frame.rename(dict(zip(names, normalised)))
    missing = [c for c in ITEM_REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        # The columns found are not listed: a file without a header would put row content there.
        raise EventFileError(
            f"{path}: missing required column(s) {', '.join(missing)}; the header has {len(names)} column(s) (is the first line a header?)"
        )
    others = [c for c in frame.columns if c != "source_row"]
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in others)
    if "description" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("description"))
    return frame.with_columns(pl.col("source_row").cast(pl.Int64), pl.lit(str(path)).alias("source_file"))


def validate_items(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Items need an id and a title; an id seen twice keeps its first row, the rest are rejected."""
    value_columns = [c for c in frame.columns if c not in ("source_row", "source_file")]
    blank = lambda c: pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "")  # noqa: E731
    checked = frame.with_columns(pl.col("item_id").str.strip_chars()).with_columns(
        pl.when(blank("item_id"))
        .then(pl.lit("missing item_id"))
        .when(blank("title"))
        .then(pl.lit("missing title"))
        .when(~pl.col("item_id").is_first_distinct())
        .then(pl.format("item_id '{}' appears earlier in the catalogue", pl.col("item_id")))
        .otherwise(None)
        .alias("_reason")
    )
    rejected = checked.filter(pl.col("_reason").is_not_null()).select(
        "source_file", "source_row", pl.struct(value_columns).struct.json_encode().alias("raw_row"), pl.col("_reason").alias("reason")
    )
    accepted = checked.filter(pl.col("_reason").is_null()).drop("_reason", "source_row", "source_file")
    first = ["item_id", "title", "description"]
    accepted = accepted.select(first + [c for c in accepted.columns if c not in first])
    return accepted.sort("item_id"), rejected.cast(REJECTED_ITEMS_SCHEMA)


def item_text(frame: pl.DataFrame) -> pl.Series:
    """The text that represents an item: title and description."""
    return frame.select(
        pl.concat_str([pl.col("title"), pl.col("description").fill_null("")], separator=". ").str.strip_chars(". ").alias("item_text")
    ).to_series()
