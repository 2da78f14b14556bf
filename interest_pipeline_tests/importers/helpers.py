"""Shared checks for the importer tests: run the product's own validator over an import."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from interest_pipeline.core.ingest.event_files import find_event_files, log_date_of
from interest_pipeline.core.ingest.validation import load_log_date

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass
class Validated:
    rows_in_files: int
    accepted: pl.DataFrame
    rejected: pl.DataFrame
    duplicates: int
    read: int

    @property
    def reasons(self) -> collections.Counter:
        return collections.Counter(self.rejected["reason"].to_list())


def event_files(out_dir: Path) -> list[Path]:
    return sorted(p for p in out_dir.glob("events_*.csv"))


def validate_import(out_dir: Path) -> Validated:
    """Validate every written daily file the way the ingest asset does."""
    accepted, rejected = [], []
    duplicates = read = rows = 0
    for path in event_files(out_dir):
        rows += pl.read_csv(path, infer_schema=False).height
        day = log_date_of(path)
        result = load_log_date(find_event_files(out_dir, day), day)
        accepted.append(result.accepted)
        rejected.append(result.rejected)
        duplicates += result.n_duplicates
        read += result.n_read
    return Validated(rows, pl.concat(accepted), pl.concat(rejected), duplicates, read)


def written_events(out_dir: Path) -> pl.DataFrame:
    frames = [
        pl.read_csv(p, infer_schema=False).with_columns(pl.lit(p.name).alias("file")) for p in event_files(out_dir)
    ]
    return pl.concat(frames)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


def assert_conserved(report, validated: Validated) -> None:
    """Rows written = rows in the daily files = accepted + rejected + duplicates by the validator."""
    assert validated.rows_in_files == report.events_written
    assert sum(report.rows_per_day.values()) == report.events_written
    assert validated.read == validated.rows_in_files
    assert validated.accepted.height + validated.rejected.height + validated.duplicates == validated.rows_in_files
