"""Amazon Reviews 2023 (McAuley Lab): review JSONL and item-metadata JSONL to events and items.

Which file is which is told by content: the first JSON object of a review file has
``user_id``; a metadata file's has ``main_category`` or ``categories`` and no ``user_id``.

Reviews: each review becomes a ``review`` event on ``parent_asin`` at ``timestamp`` (Unix
milliseconds, UTC) with the star ``rating`` and ``text`` = the review title and body joined
by ". " (by a space when the title already ends in sentence punctuation; empty parts are
left out). A review with ``verified_purchase`` true also yields a ``purchase`` event on the
same item at the same time: Amazon marks a review as verified when it has a record of the
reviewer buying the item, which is the only purchase signal in the data (the purchase time
itself is unknown; the review time stands in for it). Event ids are
``amz-review-{user}-{asin}-{timestamp}`` and ``amz-purchase-{user}-{asin}-{timestamp}``.
``images`` and ``helpful_vote`` are not used.

Metadata: one item per object, ``item_id`` = ``parent_asin``, ``title``, ``description`` =
the description paragraphs followed by the feature bullets (joined with "; "),
``category`` = ``main_category``, ``category_path`` = ``categories`` joined with " > ",
``store`` and ``price`` (empty where the publisher writes null or "None").

User and item ids are prefixed ``amz:``. Lines that are not JSON objects and reviews
without a usable timestamp go to the import rejects; other gaps (no user, no item, a
rating outside 1..5) are written and left to the product's validation to reject.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from interest_pipeline.importers.common import (
    ChunkBuffer,
    Conversion,
    ImportInputError,
    InputFiles,
    Rejects,
    concat_events,
    iter_lines,
    prefixed,
    raw_text,
)

PREFIX = "amz:"

REVIEW_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "asin": pl.String(),
    "parent_asin": pl.String(),
    "rating": pl.String(),
    "title": pl.String(),
    "text": pl.String(),
    "timestamp_ms": pl.Int64(),
    "verified_purchase": pl.Boolean(),
}

META_SCHEMA: dict[str, pl.DataType] = {
    "parent_asin": pl.String(),
    "title": pl.String(),
    "description": pl.String(),
    "main_category": pl.String(),
    "category_path": pl.String(),
    "store": pl.String(),
    "price": pl.String(),
}

# Sentence punctuation after which the title and the body are joined by a space only.
SENTENCE_END = r"[.!?…。！？]$"


def as_text(value) -> str | None:
    """A JSON scalar as text: numbers without a spurious '.0', lists and objects as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def as_millis(value) -> int | None:
    """Unix milliseconds from an int, an integral float or a string of digits; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def joined(value, separator: str) -> str:
    """A list of strings (or a single string) joined, blanks left out."""
    if value is None:
        return ""
    parts = value if isinstance(value, list) else [value]
    return separator.join(s for s in (as_text(p) for p in parts) if s and s.strip())


def review_record(record: dict) -> dict:
    verified = record.get("verified_purchase")
    return {
        "user_id": as_text(record.get("user_id")),
        "asin": as_text(record.get("asin")),
        "parent_asin": as_text(record.get("parent_asin")),
        "rating": as_text(record.get("rating")),
        "title": as_text(record.get("title")),
        "text": as_text(record.get("text")),
        "timestamp_ms": as_millis(record.get("timestamp")),
        "verified_purchase": verified is True or (isinstance(verified, str) and verified.strip().lower() == "true"),
    }


def meta_record(record: dict) -> dict:
    price = as_text(record.get("price"))
    return {
        "parent_asin": as_text(record.get("parent_asin")),
        "title": as_text(record.get("title")),
        "description": " ".join(
            p for p in (joined(record.get("description"), " "), joined(record.get("features"), "; ")) if p
        ),
        "main_category": as_text(record.get("main_category")),
        "category_path": joined(record.get("categories"), " > "),
        "store": as_text(record.get("store")),
        # The publisher writes "None" where the price is unknown.
        "price": None if price in (None, "None", "") else price,
    }


def review_events(reviews: pl.DataFrame) -> pl.DataFrame:
    """Review events, plus a purchase event for every verified purchase."""
    blank = lambda c: pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "")  # noqa: E731
    title = pl.when(blank("title")).then(None).otherwise(pl.col("title").str.strip_chars())
    body = pl.when(blank("text")).then(None).otherwise(pl.col("text").str.strip_chars())
    separator = pl.when(title.str.contains(SENTENCE_END)).then(pl.lit(" ")).otherwise(pl.lit(". "))
    text = (
        pl.when(title.is_not_null() & body.is_not_null())
        .then(pl.concat_str([title, separator, body]))
        .otherwise(pl.coalesce(title, body))
    )
    asin = pl.coalesce(
        pl.when(blank("asin")).then(None).otherwise(pl.col("asin").str.strip_chars()),
        pl.col("parent_asin").fill_null(""),
    )
    key = pl.format("{}-{}-{}", pl.col("user_id").fill_null("").str.strip_chars(), asin, pl.col("timestamp_ms"))
    timestamp = pl.from_epoch(pl.col("timestamp_ms"), time_unit="ms").cast(pl.Datetime("ms"))
    common = [
        prefixed("user_id", PREFIX).alias("user_id"),
        prefixed("parent_asin", PREFIX).alias("item_id"),
        timestamp.alias("timestamp"),
    ]
    review = reviews.select(
        (pl.lit("amz-review-") + key).alias("event_id"),
        *common,
        pl.lit("review").alias("event_type"),
        pl.col("rating").str.strip_chars().alias("rating"),
        text.alias("text"),
    )
    purchase = reviews.filter(pl.col("verified_purchase")).select(
        (pl.lit("amz-purchase-") + key).alias("event_id"),
        *common,
        pl.lit("purchase").alias("event_type"),
    )
    return concat_events([review, purchase])


def meta_items(meta: pl.DataFrame) -> pl.DataFrame:
    return meta.select(
        prefixed("parent_asin", PREFIX).alias("item_id"),
        pl.col("title").fill_null("").str.strip_chars().alias("title"),
        pl.col("description").fill_null("").str.strip_chars().alias("description"),
        pl.col("main_category").fill_null("").str.strip_chars().alias("category"),
        pl.col("category_path").fill_null("").alias("category_path"),
        pl.col("store").fill_null("").str.strip_chars().alias("store"),
        pl.col("price").fill_null("").str.strip_chars().alias("price"),
    )


def json_objects(path: Path, rejects: Rejects, counts: dict[str, int]):
    """Yield ``(line number, line, object)`` per JSON-object line; other lines go to ``rejects``."""
    n_rows = 0
    for number, text, raw in iter_lines(path):
        if not raw.strip():
            continue
        n_rows += 1
        if text is None:
            rejects.add(path, number, raw_text(text, raw), "invalid UTF-8")
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            rejects.add(path, number, text, "invalid JSON", f"{exc.msg}: column {exc.colno}")
            continue
        if not isinstance(record, dict):
            rejects.add(path, number, text, "not a JSON object", f"found a JSON {type(record).__name__}")
            continue
        yield number, text, record
    counts[str(path)] = counts.get(str(path), 0) + n_rows


def sniff_kind(path: Path) -> str | None:
    """'reviews' or 'metadata' from the first JSON object; None if the file has none."""
    for _, _, record in json_objects(path, Rejects(), {}):
        if "user_id" in record:
            return "reviews"
        if "main_category" in record or "categories" in record:
            return "metadata"
        raise ImportInputError(
            f"{path}: not an Amazon Reviews 2023 file: its first object has neither 'user_id' (reviews) "
            f"nor 'main_category'/'categories' (item metadata); keys: {sorted(record)[:12]}"
        )
    return None


def read_rows(path: Path, kind: str, rejects: Rejects, rows_read: dict[str, int]):
    """Yield frames of review or metadata fields; unusable lines go to ``rejects``."""
    buffer = ChunkBuffer(REVIEW_SCHEMA if kind == "reviews" else META_SCHEMA)
    for number, text, record in json_objects(path, rejects, rows_read):
        if kind == "metadata":
            buffer.append(meta_record(record))
        else:
            values = review_record(record)
            if values["timestamp_ms"] is None:
                detail = f"timestamp {json.dumps(record.get('timestamp'))} is not Unix milliseconds"
                rejects.add(path, number, text, "missing or unparseable timestamp", detail)
                continue
            buffer.append(values)
        if buffer.full():
            yield buffer.take()
    if len(buffer):
        yield buffer.take()


def convert(paths: list[Path]) -> Conversion:
    """Map Amazon Reviews 2023 review and metadata files (any number of each, ``.gz`` accepted)."""
    inputs = InputFiles()
    event_frames, item_frames = [], []
    for kind, chunk in inputs.chunks(paths, sniff_kind, read_rows, unrecognised=_refuse_unreadable):
        if kind == "reviews":
            event_frames.append(review_events(chunk))
        else:
            item_frames.append(meta_items(chunk))
    return inputs.conversion(event_frames, item_frames)


def _refuse_unreadable(path: Path) -> None:
    """A file with no JSON object at all is fine when empty; one where nothing can be read is an error."""
    bad = Rejects()
    list(json_objects(path, bad, {}))
    if bad.rows:
        raise ImportInputError(
            f"{path}: no line is a JSON object (line {bad.rows[0]['line']}: {bad.rows[0]['reason']})"
        )
