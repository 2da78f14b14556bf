"""Importers: public recommender data sets turned into the product's daily event files and catalogue.

    python -m interest_pipeline.importers movielens ml-latest-small/*.csv --out data/landing/

An import writes, into one output folder:

- ``events_YYYY-MM-DD.csv``: one file per UTC day of the events, in the product's event
  schema, so that the normal partitioned ingestion (and its validation) applies;
- ``items.csv``: the item catalogue;
- ``import_rejects.csv``: input that could not be mapped at all (source file, line, raw
  line, reason, detail). Input that can be written as an event is written even when it is
  invalid (an empty user id stays empty), so that the product's validation rejects it with
  its reason; nothing is dropped silently.

Re-running the same import rewrites the same files byte for byte. Each data set should go
to its own output folder: the daily files and ``items.csv`` of two data sets would have
the same names. User and item ids carry a data-set prefix (``mind:``, ``amz:``, ``ml:``)
so that data sets never share ids. The per-format rules are in each adapter's docstring.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from interest_pipeline.core.ingest.partition_grain import recommend_grain
from interest_pipeline.importers import amazon_reviews, mind, movielens
from interest_pipeline.importers.common import Conversion, ImportInputError
from interest_pipeline.importers.writer import ITEMS_FILE, REJECTS_FILE, write_daily_events, write_items, write_rejects

ADAPTERS: dict[str, Callable[[list[Path]], Conversion]] = {
    "mind": mind.convert,
    "amazon-reviews-2023": amazon_reviews.convert,
    "movielens": movielens.convert,
}

__all__ = ["ADAPTERS", "ImportInputError", "ImportReport", "import_dataset"]


@dataclass
class ImportReport:
    """What an import read and wrote.

    Conservation: for every input file, ``rows_read`` = rows mapped + rows (or parts of
    rows) counted in ``skipped``; the catalogue files' mapped rows are ``items_written`` +
    ``item_rows_merged``. Rows are non-blank lines, or CSV records, not counting a header.
    """

    format: str
    out_dir: str
    rows_read: dict[str, int]
    file_kinds: dict[str, str]
    events_written: int
    events_by_type: dict[str, int]
    items_written: int
    item_rows_merged: int
    skipped: dict[str, int]  # reason -> count, each one a row of import_rejects.csv
    days_written: list[str]
    rows_per_day: dict[str, int] = field(default_factory=dict)
    rejects_file: str = ""
    items_file: str = ""
    # The grain for the imported span (core.ingest.partition_grain) and why.
    partition_grain: str = ""
    partition_grain_reason: str = ""

    def settings(self) -> dict[str, str]:
        """The environment the main command needs to ingest this import (empty when nothing was written)."""
        if not self.days_written:
            return {}
        return {
            "INTEREST_PIPELINE_EVENTS_DIR": self.out_dir,
            "INTEREST_PIPELINE_ITEMS_PATH": self.items_file,
            "INTEREST_PIPELINE_START_DATE": self.days_written[0],
            "INTEREST_PIPELINE_PARTITION_GRAIN": self.partition_grain,
        }

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


def import_dataset(format: str, paths: list[Path], out_dir: Path) -> ImportReport:
    """Import ``paths`` (files of one data set, any order, ``.gz`` accepted) into ``out_dir``.

    Every input is read and mapped before anything is written, so an unreadable file
    (:class:`ImportInputError`, naming the file) leaves ``out_dir`` as it was.
    """
    if format not in ADAPTERS:
        raise ValueError(f"unknown format {format!r}; known: {', '.join(sorted(ADAPTERS))}")
    paths = [Path(p) for p in paths]
    out_dir = Path(out_dir)
    conversion = ADAPTERS[format](paths)
    per_day = write_daily_events(conversion.events, out_dir)
    n_items = write_items(conversion.items, out_dir)
    write_rejects(conversion.rejects, out_dir)
    by_type = conversion.events.group_by("event_type").len().sort("event_type")
    skipped = conversion.rejects.group_by("reason").len().sort("reason")
    advice = recommend_grain(per_day) if per_day else None
    return ImportReport(
        format=format,
        out_dir=str(out_dir),
        rows_read=conversion.rows_read,
        file_kinds=conversion.file_kinds,
        events_written=conversion.events.height,
        events_by_type=dict(zip(by_type["event_type"].to_list(), by_type["len"].to_list())),
        items_written=n_items,
        item_rows_merged=conversion.item_rows_merged,
        skipped=dict(zip(skipped["reason"].to_list(), skipped["len"].to_list())),
        days_written=[day.isoformat() for day in per_day],
        rows_per_day={day.isoformat(): n for day, n in per_day.items()},
        rejects_file=str(out_dir / REJECTS_FILE),
        items_file=str(out_dir / ITEMS_FILE),
        partition_grain=advice.grain if advice else "",
        partition_grain_reason=advice.reason() if advice else "",
    )
