"""Finding event files by log date, and reading them only while they stay unchanged."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from interest_pipeline.core.ingest.event_schema import EventFileError

EVENT_FILE_PATTERN = re.compile(r"(\d{4}-\d{2}-\d{2}).*\.(csv|jsonl|ndjson|parquet)$", re.IGNORECASE)


DATE_IN_NAME = re.compile(r"\d{4}-\d{2}-\d{2}")


# Producers write under such names and rename when complete (the landing sensor agrees).
IN_PROGRESS_SUFFIXES = (".tmp", ".part")


def log_date_of(path: Path) -> dt.date | None:
    """The day a file was logged, from the ISO date in its name (``events_2026-10-01.csv``)."""
    match = EVENT_FILE_PATTERN.search(path.name)
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def is_in_progress(path: Path) -> bool:
    """Names a producer writes under until the file is complete (rename when done)."""
    return path.name.startswith(".") or path.suffix.lower() in IN_PROGRESS_SUFFIXES


def not_ingested_reason(path: Path, start_date: dt.date | None = None, last_date: dt.date | None = None) -> str | None:
    """Why a file in an events or landing folder is left out, for files that look like event
    files (a date in the name, or an event-file extension); None for an event file to read or
    for a file that is none of the pipeline's business (item catalogue, notes, files in progress).
    ``last_date`` is the last log date that may be ingested now: a file dated later waits."""
    if is_in_progress(path):
        return None
    if path.is_symlink():
        return "a symbolic link, not followed"
    if not path.is_file():
        return None
    date_like = DATE_IN_NAME.search(path.name)
    log_date = log_date_of(path)
    if log_date is not None:
        if start_date is not None and log_date < start_date:
            return f"log date {log_date} is before the first partition {start_date} (INTEREST_PIPELINE_START_DATE)"
        if last_date is not None and log_date > last_date:
            return (
                f"log date {log_date} is after {last_date}, the last log date that can be ingested now "
                "(a day is ingested once it has closed; a date far ahead is probably a wrong name)"
            )
        return None
    if date_like is None:
        return None
    try:
        dt.date.fromisoformat(date_like.group(0))
    except ValueError:
        return f"{date_like.group(0)!r} in the name is not a valid date"
    return "unsupported file type (use .csv, .jsonl, .ndjson or .parquet, uncompressed)"


def find_event_files(events_dir: Path, log_date: dt.date) -> list[Path]:
    """The event files of one log date; files in progress and symbolic links are left out."""
    return event_files_by_date(events_dir).get(log_date, [])


def event_files_by_date(events_dir: Path) -> dict[dt.date, list[Path]]:
    """Every event file of the folder by its log date, from one listing of the folder (a range of
    thousands of days must not list it once per day); in progress and symbolic links left out."""
    if not events_dir.is_dir():
        return {}
    found: dict[dt.date, list[Path]] = {}
    for path in events_dir.iterdir():
        log_date = log_date_of(path)  # the name first: no file system call for other files
        if log_date is not None and not is_in_progress(path) and not path.is_symlink() and path.is_file():
            found.setdefault(log_date, []).append(path)
    return {day: sorted(paths) for day, paths in found.items()}


def summarise_dates(dates: Sequence[dt.date], shown: int = 3) -> str:
    """``n`` dates as one short phrase: all of them when few, else the first and last ``shown``."""
    ordered = sorted(dates)
    if len(ordered) <= 2 * shown:
        return ", ".join(d.isoformat() for d in ordered)
    return (
        ", ".join(d.isoformat() for d in ordered[:shown]) + ", …, " + ", ".join(d.isoformat() for d in ordered[-shown:])
    )


def files_not_ingested(
    folder: Path, start_date: dt.date | None = None, last_date: dt.date | None = None
) -> list[tuple[str, str]]:
    """(file name, reason) for every file of the folder that looks like an event file but is not read."""
    if not folder.is_dir():
        return []
    found = ((p.name, not_ingested_reason(p, start_date, last_date)) for p in sorted(folder.iterdir()))
    return [(name, reason) for name, reason in found if reason is not None]


@dataclass(frozen=True)
class FileFingerprint:
    """What a file was when it was read: a change of any part means it was rewritten."""

    size: int
    mtime_ns: int
    sha256: str


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def read_stable_bytes(path: Path) -> tuple[bytes, FileFingerprint]:
    """The file's bytes, refusing a file that changes while it is read."""
    before = _stat(path)
    data = path.read_bytes()
    after = _stat(path)
    if before != after or len(data) != after[0]:
        raise EventFileError(
            f"{path}: the file changed while it was read (size or modification time); write it under a "
            "temporary name (.tmp, .part or a leading '.') and rename it when complete, then run again"
        )
    return data, FileFingerprint(after[0], after[1], hashlib.sha256(data).hexdigest())


def verify_unchanged(fingerprints: dict[str, FileFingerprint]) -> None:
    """Raise if any file read earlier has been rewritten since (checked just before storing)."""
    for name, read in fingerprints.items():
        path = Path(name)
        try:
            now = _stat(path)
        except FileNotFoundError:
            raise EventFileError(
                f"{path}: the file was removed after it was read; nothing was stored, run again"
            ) from None
        if now == (read.size, read.mtime_ns):
            continue
        if now[0] == read.size and hashlib.sha256(path.read_bytes()).hexdigest() == read.sha256:
            continue  # touched, same content
        raise EventFileError(
            f"{path}: the file was rewritten while the run was reading it; nothing was stored, run again"
        )
