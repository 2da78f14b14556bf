"""Writing imported data as the product's inputs: daily event files, the catalogue, the rejects.

Files are written under a temporary name starting with '.' and renamed into place, so the
landing sensor never picks up a half-written file, and an interrupted import leaves the
previous file intact. Rows are sorted by content, so the same import always produces
byte-identical files whatever order its inputs were read in.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl

from interest_pipeline.importers.common import EVENT_COLUMNS, REJECT_SCHEMA

ITEMS_FILE = "items.csv"
REJECTS_FILE = "import_rejects.csv"


def event_file_name(day: dt.date) -> str:
    return f"events_{day.isoformat()}.csv"


def format_timestamp(column: pl.Expr) -> pl.Expr:
    """ISO 8601 in UTC with a ``Z``; milliseconds only where the source has them."""
    return (
        pl.when(column.dt.millisecond() == 0)
        .then(column.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .otherwise(column.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
    )


def _write_csv_atomically(frame: pl.DataFrame, path: Path) -> None:
    # Empty text is written as an empty field, like a missing value: both read back as missing.
    frame = frame.with_columns(pl.col(pl.String).replace("", None))
    temporary = path.with_name(f".{path.name}.tmp")
    frame.write_csv(temporary, line_terminator="\n", quote_style="necessary")
    os.replace(temporary, path)


def write_daily_events(events: pl.DataFrame, out_dir: Path) -> dict[dt.date, int]:
    """One ``events_YYYY-MM-DD.csv`` per UTC day of the events' timestamps; returns rows per day.

    Within a day rows are ordered by time, then event id, then the remaining columns, which
    makes the order independent of the input order. Files of days without events are left
    as they are.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if events.height == 0:
        return {}
    ordered = events.with_columns(pl.col("timestamp").dt.date().alias("_day")).sort(
        ["timestamp", "event_id", "user_id", "item_id", "event_type", "rating", "text", "device", "location"],
        nulls_last=False,
    )
    written: dict[dt.date, int] = {}
    for (day,), part in ordered.partition_by("_day", as_dict=True, maintain_order=True).items():
        rows = part.select(
            format_timestamp(pl.col("timestamp")).alias("timestamp"), *[c for c in EVENT_COLUMNS if c != "timestamp"]
        )
        _write_csv_atomically(rows.select(list(EVENT_COLUMNS)), out_dir / event_file_name(day))
        written[day] = part.height
    return dict(sorted(written.items()))


def write_items(items: pl.DataFrame, out_dir: Path) -> int:
    """The catalogue as ``items.csv``, sorted by item id (input order among equal ids)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    first = ["item_id", "title", "description"]
    ordered = items.select(first + [c for c in items.columns if c not in first]).sort("item_id", maintain_order=True)
    _write_csv_atomically(ordered, out_dir / ITEMS_FILE)
    return ordered.height


def write_rejects(rejects: pl.DataFrame, out_dir: Path) -> int:
    """``import_rejects.csv``, always written (header only when empty) so that no stale rejects remain."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv_atomically(rejects.select(list(REJECT_SCHEMA)), out_dir / REJECTS_FILE)
    return rejects.height
