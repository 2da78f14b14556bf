"""Reading and validating the item catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from interest_pipeline.core.ingest.event_schema import EventFileError

ITEM_REQUIRED_COLUMNS = ("item_id", "title")

REJECTED_ITEMS_SCHEMA = {
    "source_file": pl.String(),
    "source_row": pl.Int64(),
    "raw_row": pl.String(),
    "reason": pl.String(),
}


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
        raise EventFileError(
            f"{path}: the header holds column(s) {', '.join(repr(c) for c in repeated)} more than once"
        )
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


# Where a title is derived from when an item has none, in this order: the description's first
# sentence, else the most specific category with the store or brand, else the store or brand.
# A category path's last level is its most specific ("Beauty > Hair Care > Sprays", "news/newsworld").
CATEGORY_COLUMNS = ("category_path", "subcategory", "category")
MAKER_COLUMNS = ("store", "brand")
# Values that stand for "unknown" in catalogues and describe nothing.
PLACEHOLDERS = ("unknown", "n/a", "na", "none", "null", "nan", "-", "--", "?")
MAX_DERIVED_TITLE_CHARS = 120
# A sentence ends at . ! ? (followed by a space or the end) or at a full-width stop, or at a line break.
SENTENCE_END = re.compile(r"[.!?](?=\s|$)|[。！？]|\n")


def _value(frame: pl.DataFrame, column: str) -> pl.Expr:
    """The column's trimmed value, null when absent, blank or a placeholder."""
    if column not in frame.columns:
        return pl.lit(None, pl.String)
    trimmed = pl.col(column).str.strip_chars()
    return pl.when(trimmed.str.to_lowercase().is_in(PLACEHOLDERS) | (trimmed == "")).then(None).otherwise(trimmed)


def _first_sentence(description: str | None) -> str | None:
    if not description or not description.strip():
        return None
    text = description.strip()
    end = SENTENCE_END.search(text)
    sentence = (text[: end.start()] if end else text).strip(" ;,:")
    if len(sentence) > MAX_DERIVED_TITLE_CHARS:
        # cut at the last space within the limit (or at the limit, for text without spaces)
        head = sentence[:MAX_DERIVED_TITLE_CHARS]
        sentence = (head.rsplit(" ", 1)[0] if " " in head else head).rstrip(" ;,:") + "…"
    return sentence or None


def derived_titles(frame: pl.DataFrame) -> pl.Series:
    """A title for each row from its other fields (null where nothing describes the item):
    the description's first sentence; else the most specific category, with the store or brand
    in brackets ("Sprays (Herbivore Botanicals)"); else the store or brand alone."""
    category = pl.coalesce(
        *[
            _value(frame, c).str.replace(r".*[>/|]", "").str.strip_chars() if c == "category_path" else _value(frame, c)
            for c in CATEGORY_COLUMNS
        ]
    )
    maker = pl.coalesce(*[_value(frame, c) for c in MAKER_COLUMNS])
    from_fields = (
        pl.when(category.is_not_null() & maker.is_not_null())
        .then(pl.format("{} ({})", category, maker))
        .otherwise(pl.coalesce(category, maker))
    )
    sentence = _value(frame, "description").map_elements(_first_sentence, return_dtype=pl.String)
    return frame.select(pl.coalesce(sentence, from_fields).alias("title")).to_series()


def validate_items(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Items need an id, and a title or fields to derive one from (flagged in ``title_derived``);
    an id seen twice keeps its first row, the rest are rejected."""
    value_columns = [c for c in frame.columns if c not in ("source_row", "source_file")]
    blank = lambda c: pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "")  # noqa: E731
    derived = derived_titles(frame)
    checked = frame.with_columns(pl.col("item_id").str.strip_chars(), derived.alias("_derived_title")).with_columns(
        pl.when(blank("item_id"))
        .then(pl.lit("missing item_id"))
        .when(blank("title") & pl.col("_derived_title").is_null())
        .then(
            pl.lit(
                f"missing title, and nothing to derive one from ({', '.join(('description', *CATEGORY_COLUMNS, *MAKER_COLUMNS))})"
            )
        )
        .when(~pl.col("item_id").is_first_distinct())
        .then(pl.format("item_id '{}' appears earlier in the catalogue", pl.col("item_id")))
        .otherwise(None)
        .alias("_reason")
    )
    rejected = checked.filter(pl.col("_reason").is_not_null()).select(
        "source_file",
        "source_row",
        pl.struct(value_columns).struct.json_encode().alias("raw_row"),
        pl.col("_reason").alias("reason"),
    )
    accepted = (
        checked.filter(pl.col("_reason").is_null())
        .with_columns(blank("title").alias("title_derived"))
        .with_columns(
            pl.when(pl.col("title_derived")).then(pl.col("_derived_title")).otherwise(pl.col("title")).alias("title")
        )
        .drop("_reason", "_derived_title", "source_row", "source_file")
    )
    first = ["item_id", "title", "title_derived", "description"]
    accepted = accepted.select(first + [c for c in accepted.columns if c not in first])
    return accepted.sort("item_id"), rejected.cast(REJECTED_ITEMS_SCHEMA)


def item_text(frame: pl.DataFrame) -> pl.Series:
    """The text that represents an item: title and description (the description alone where the
    title was derived from it, so that its first sentence does not count twice)."""
    title = pl.col("title")
    if "title_derived" in frame.columns:
        title = (
            pl.when(pl.col("title_derived") & pl.col("description").str.strip_chars().ne(""))
            .then(None)
            .otherwise(title)
        )
    return frame.select(
        pl.concat_str([title, pl.col("description").fill_null("")], separator=". ", ignore_nulls=True)
        .str.strip_chars(". ")
        .alias("item_text")
    ).to_series()
