"""Finding event files by log date, and reading them only while they stay unchanged."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from interest_pipeline.core.ingest.event_schema import EventFileError

# The date must stand alone: no digit right before or after it (events_2026-10-011.csv is no file
# of 2026-10-01).
EVENT_FILE_PATTERN = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d).*\.(csv|jsonl|ndjson|parquet)\Z", re.IGNORECASE)


# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: in a file name
# they would break or forge the lines of a log that names the file.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


DATE_IN_NAME = re.compile(r"\d{4}-\d{2}-\d{2}")
# A log date as event files name it: not touching other digits.
EVENT_FILE_DATE = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)")


# Producers write under such names and rename when complete (the landing sensor agrees).
IN_PROGRESS_SUFFIXES = (".tmp", ".part")


def has_control_characters(name: str) -> bool:
    """Whether a file name holds a control character or a line separator (a newline, a carriage
    return, an escape...): such a file is no event file, and its name is not to be logged as is."""
    return CONTROL_CHARACTERS.search(name) is not None


def log_date_of(path: Path) -> dt.date | None:
    """The day a file was logged, from the ISO date in its name (``events_2026-10-01.csv``): a date
    standing alone, not part of a longer run of digits. None for a name with control characters."""
    if has_control_characters(path.name):
        return None
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
    if has_control_characters(path.name):
        return "the name holds a control character (a line break, a tab, an escape): rename the file"
    if not EVENT_FILE_DATE.search(path.name):
        return f"the date {date_like.group(0)!r} in the name runs into other digits: write the log date alone"
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
