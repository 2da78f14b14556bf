"""Reading, validating and normalising raw behaviour-log files.

Every row read ends up in exactly one of three places: accepted, dropped as an exact
duplicate of an accepted row, or rejected with the file, row number, raw row and a reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import hashlib
import io
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from interest_pipeline.core.privacy import UNPARSED_CSV_LINE, UNPARSED_JSON_LINE

# A single text may be long (it is rejected by the text limit, with its reason, not here).
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

EVENT_TYPES: tuple[str, ...] = (
    "view",
    "click",
    "favorite",
    "add_to_cart",
    "purchase",
    "rate",
    "review",
    "search",
)

# Spellings seen in real logs, mapped onto the product's vocabulary.
EVENT_TYPE_SYNONYMS: dict[str, str] = {
    "impression": "view",
    "page_view": "view",
    "pageview": "view",
    "fav": "favorite",
    "favourite": "favorite",
    "like": "favorite",
    "cart": "add_to_cart",
    "addtocart": "add_to_cart",
    "add_cart": "add_to_cart",
    "buy": "purchase",
    "order": "purchase",
    "rating": "rate",
    "comment": "review",
    "query": "search",
}

REQUIRED_COLUMNS: tuple[str, ...] = ("user_id", "event_type", "timestamp")
OPTIONAL_COLUMNS: tuple[str, ...] = ("event_id", "item_id", "device", "location", "rating", "text")
INPUT_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# Longest accepted user_id, item_id or event_id: ids are keys, joined and indexed everywhere,
# so an unbounded one is a denial of service rather than data.
MAX_ID_CHARS = 256
ID_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "event_id")

EVENT_FILE_PATTERN = re.compile(r"(\d{4}-\d{2}-\d{2}).*\.(csv|jsonl|ndjson|parquet)$", re.IGNORECASE)
DATE_IN_NAME = re.compile(r"\d{4}-\d{2}-\d{2}")
# Producers write under such names and rename when complete (the landing sensor agrees).
IN_PROGRESS_SUFFIXES = (".tmp", ".part")

ACCEPTED_SCHEMA: dict[str, pl.DataType] = {
    "log_date": pl.Date(),
    "event_id": pl.String(),
    "user_id": pl.String(),
    "item_id": pl.String(),
    "event_type": pl.String(),
    "event_ts": pl.Datetime("us"),
    "device": pl.String(),
    "location": pl.String(),
    "rating": pl.Float64(),
    "text": pl.String(),
    "source_file": pl.String(),
    "source_row": pl.Int64(),
}

REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "log_date": pl.Date(),
    "source_file": pl.String(),
    "source_row": pl.Int64(),
    "raw_row": pl.String(),
    "reason": pl.String(),
}


COUNTS_SCHEMA: dict[str, pl.DataType] = {"log_date": pl.Date(), "read": pl.Int64(), "duplicates": pl.Int64()}


class EventFileError(ValueError):
    """A file that cannot be read at all; the message names the file and the problem."""


@dataclass(frozen=True)
class ValidationRules:
    max_text_chars: int = 10_000
    # Events may be logged a little after they happen (offline devices, queues).
    timestamp_tolerance: dt.timedelta = dt.timedelta(days=1)


@dataclass(frozen=True)
class ValidatedEvents:
    accepted: pl.DataFrame
    rejected: pl.DataFrame
    n_read: int
    n_duplicates: int
    # The accepted rows' input as read (JSON), in the same order, for a later rejection.
    accepted_raw: pl.Series = field(default_factory=lambda: pl.Series("raw_row", [], dtype=pl.String))
    # Every file read, as it was when read: checked again before anything is stored.
    fingerprints: dict = field(default_factory=dict)
    # Per log date: rows read and exact duplicates dropped (accepted and rejected rows carry their log date).
    counts: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=COUNTS_SCHEMA))

    @property
    def n_accepted(self) -> int:
        return self.accepted.height

    @property
    def n_rejected(self) -> int:
        return self.rejected.height


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


def not_ingested_reason(path: Path, start_date: dt.date | None = None) -> str | None:
    """Why a file in an events or landing folder is left out, for files that look like event
    files (a date in the name, or an event-file extension); None for an event file to read or
    for a file that is none of the pipeline's business (item catalogue, notes, files in progress)."""
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
    return ", ".join(d.isoformat() for d in ordered[:shown]) + ", …, " + ", ".join(d.isoformat() for d in ordered[-shown:])


def files_not_ingested(folder: Path, start_date: dt.date | None = None) -> list[tuple[str, str]]:
    """(file name, reason) for every file of the folder that looks like an event file but is not read."""
    if not folder.is_dir():
        return []
    found = ((p.name, not_ingested_reason(p, start_date)) for p in sorted(folder.iterdir()))
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


def _read_stable_bytes(path: Path) -> tuple[bytes, FileFingerprint]:
    """The file's bytes, refusing a file that changes while it is read."""
    before = _stat(path)
    data = path.read_bytes()
    after = _stat(path)
    if before != after or len(data) != after[0]:
        raise EventFileError(f"{path}: the file changed while it was read (size or modification time); write it under a "
                             "temporary name (.tmp, .part or a leading '.') and rename it when complete, then run again")
    return data, FileFingerprint(after[0], after[1], hashlib.sha256(data).hexdigest())


def verify_unchanged(fingerprints: dict[str, FileFingerprint]) -> None:
    """Raise if any file read earlier has been rewritten since (checked just before storing)."""
    for name, read in fingerprints.items():
        path = Path(name)
        try:
            now = _stat(path)
        except FileNotFoundError:
            raise EventFileError(f"{path}: the file was removed after it was read; nothing was stored, run again") from None
        if now == (read.size, read.mtime_ns):
            continue
        if now[0] == read.size and hashlib.sha256(path.read_bytes()).hexdigest() == read.sha256:
            continue  # touched, same content
        raise EventFileError(f"{path}: the file was rewritten while the run was reading it; nothing was stored, run again")


def _empty_raw() -> pl.DataFrame:
    return pl.DataFrame(
        schema={**{c: pl.String() for c in INPUT_COLUMNS}, "source_file": pl.String(), "source_row": pl.Int64()}
    )


def empty_rejected() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECTED_SCHEMA)


def _identity(value: str) -> str:
    return value


def _normalised_columns(names: list[str], path: Path) -> list[str]:
    """Column names trimmed and lower-cased; two columns that then coincide are an error."""
    normalised = [name.strip().lower() for name in names]
    seen: dict[str, int] = {}
    for position, name in enumerate(normalised):
        if name in seen:
            same = "the same column" if names[seen[name]] == names[position] else "columns differing only in case or spaces"
            raise EventFileError(f"{path}: the header holds {same} {name!r} twice (columns {seen[name] + 1} and {position + 1})")
        seen[name] = position
    return normalised


def _check_required(columns: list[str], path: Path) -> None:
    """The message names what is missing and a near miss among the columns found, but never
    lists the columns themselves: a file without a header would put row content there."""
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if not missing:
        return
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, columns, n=1, cutoff=0.75)
        if close:
            hints.append(f"{close[0]!r} for {name}?")
    known = [c for c in columns if c in INPUT_COLUMNS]
    raise EventFileError(
        f"{path}: missing required column(s) {', '.join(missing)}; the header has {len(columns)} column(s), of which "
        f"{', '.join(known) if known else 'none'} known" + (f"; did you mean {' '.join(hints)}" if hints else "")
        + " (is the first line a header?)"
    )


def _conform(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Keep the known columns as strings, add missing optional ones as nulls."""
    columns = _normalised_columns([c for c in frame.columns if c != "source_row"], path)
    frame = frame.rename(dict(zip([c for c in frame.columns if c != "source_row"], columns)))
    _check_required(columns, path)
    for name in INPUT_COLUMNS:
        if name in frame.columns and not _castable_to_text(frame.schema[name]):
            raise EventFileError(f"{path}: column {name!r} has type {frame.schema[name]}, which is not text, a number or a time")
    selected = [
        (pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, dtype=pl.String)).alias(c)
        for c in INPUT_COLUMNS
    ]
    return frame.select(*selected, pl.col("source_row"))


def _castable_to_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or dtype.is_numeric() or dtype.is_temporal() or dtype == pl.Boolean or dtype == pl.Null


def _reject(log_date, path: Path, row: int, raw: str, reason: str) -> dict:
    return {"log_date": log_date, "source_file": str(path), "source_row": row, "raw_row": raw, "reason": reason}


def _unparsed(kind: str, text: str) -> str:
    return json.dumps({kind: text}, ensure_ascii=False)


def _shown_bytes(text: str) -> str:
    """Text decoded with surrogateescape, with its invalid bytes written as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _is_valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decode(data: bytes) -> tuple[str, bool]:
    """(text, clean): invalid UTF-8 bytes survive as surrogate escapes so rows can be told apart."""
    try:
        text, clean = data.decode("utf-8"), True
    except UnicodeDecodeError:
        text, clean = data.decode("utf-8", "surrogateescape"), False
    return (text[1:] if text.startswith("\ufeff") else text), clean


def _lines(text: str) -> list[str]:
    """Lines ending in LF, CRLF or a lone CR (old Mac files), endings kept."""
    return list(io.StringIO(text, newline=""))


def _csv_records(lines: list[str], first: int, n_columns: int):
    """(first line index, line index after, fields or None, problem) for the lines from ``first``.

    A quoted field that is never closed would swallow the rest of the file; it is reported on
    its own line and reading resumes on the next line. A record spanning several lines whose
    field count does not match is taken as the same problem.
    """
    position = first
    while position < len(lines):
        reader = csv.reader((lines[k] for k in range(position, len(lines))), strict=True)
        consumed = 0
        restart = None
        while True:
            start = position + consumed
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                end = position + reader.line_num
                if "unexpected end of data" in str(error) or end - start > 1:
                    yield start, start + 1, None, "unbalanced quote: a quoted field opened on this line is never closed"
                    restart = start + 1
                else:
                    yield start, end, None, "malformed quoting: a closing quote must be followed by a comma or the line end"
                    restart = end
                break
            consumed = reader.line_num
            if position + consumed - start > 1 and fields and len(fields) != n_columns:
                yield start, start + 1, None, "unbalanced quote: a quoted field opened on this line is never closed"
                restart = start + 1
                break
            yield start, position + consumed, fields, None
        position = restart


def _read_csv(path: Path, data: bytes, quote) -> tuple[pl.DataFrame, pl.DataFrame]:
    """CSV read row by row, so that a bad row is quarantined with its line, not the whole file."""
    text, clean = _decode(data)
    lines = _lines(text)
    log_date = log_date_of(path)
    if not lines:
        raise EventFileError(f"{path}: the file is empty (no header line)")
    header = next(csv.reader([lines[0]]), [])
    if not _is_valid_unicode("".join(header)):
        raise EventFileError(f"{path}: the header line is not valid UTF-8")
    columns = _normalised_columns(header, path)
    _check_required(columns, path)
    wanted = [(columns.index(c) if c in columns else None) for c in INPUT_COLUMNS]
    n_columns = len(columns)
    rows: list[list[str]] = []
    source_rows: list[int] = []
    rejected: list[dict] = []

    def quarantine(start: int, end: int, reason: str) -> None:
        raw_text = "".join(lines[start:end]).rstrip("\r\n")
        rejected.append(_reject(log_date, path, start + 1, _unparsed(UNPARSED_CSV_LINE, _shown_bytes(raw_text)), reason))

    if '"' in text:
        records = _csv_records(lines, 1, n_columns)
    else:
        # Without quote characters every line is one record: split in bulk (much faster).
        split = [line.rstrip("\r\n").split(",") for line in lines]
        good = [k for k in range(1, len(split)) if len(split[k]) == n_columns]
        rows = [split[k] for k in good]
        source_rows = [k + 1 for k in good]
        records = ((k, k + 1, split[k], None) for k in range(1, len(split)) if len(split[k]) != n_columns)
    for start, end, fields, problem in records:
        if problem is not None:
            quarantine(start, end, problem)
        elif len(fields) == n_columns:
            rows.append(fields)
            source_rows.append(start + 1)
        elif not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # a blank line is not a row
        else:
            quarantine(start, end, f"row has {len(fields)} field(s), the header has {n_columns}")
    if not clean:
        rows, source_rows = _quarantine_invalid_utf8(rows, source_rows, wanted, log_date, path, rejected)
    # An empty field is a missing value, as in any CSV reader.
    frame = pl.DataFrame(
        {
            **{c: pl.Series(c, [r[i] or None for r in rows] if i is not None else [None] * len(rows), dtype=pl.String) for c, i in zip(INPUT_COLUMNS, wanted)},
            "source_row": pl.Series("source_row", source_rows, dtype=pl.Int64),
        }
    )
    return frame, pl.DataFrame(rejected, schema=REJECTED_SCHEMA)


def _quarantine_invalid_utf8(rows, source_rows, wanted, log_date, path, rejected):
    """Rows whose known fields hold bytes that are not UTF-8 go to the rejected rows, shown as \\xNN."""
    kept_rows, kept_lines = [], []
    for fields, line_number in zip(rows, source_rows):
        values = [fields[i] if i is not None and fields[i] != "" else None for i in wanted]
        bad = [c for c, v in zip(INPUT_COLUMNS, values) if v is not None and not _is_valid_unicode(v)]
        if bad:
            shown = {c: (None if v is None else _shown_bytes(v)) for c, v in zip(INPUT_COLUMNS, values)}
            rejected.append(_reject(log_date, path, line_number, json.dumps(shown, ensure_ascii=False), f"invalid UTF-8 in {', '.join(bad)}"))
        else:
            kept_rows.append(fields)
            kept_lines.append(line_number)
    return kept_rows, kept_lines


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict:
    record: dict = {}
    for key, value in pairs:
        if key in record:
            raise _DuplicateKey(key)
        record[key] = value
    return record


def _read_jsonl(path: Path, data: bytes, quote) -> tuple[pl.DataFrame, pl.DataFrame]:
    """JSON lines are parsed one by one so that a bad line is rejected, not the whole file."""
    records: list[dict] = []
    rejected: list[dict] = []
    log_date = log_date_of(path)
    text, clean = _decode(data)
    for line_number, line in enumerate(_lines(text), start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        if not clean and not _is_valid_unicode(line):
            rejected.append(_reject(log_date, path, line_number, _unparsed(UNPARSED_JSON_LINE, _shown_bytes(line)), "text is not valid UTF-8"))
            continue
        try:
            record = json.loads(line, object_pairs_hook=_object_without_duplicates)
        except _DuplicateKey as duplicate:
            rejected.append(_reject(log_date, path, line_number, _unparsed(UNPARSED_JSON_LINE, line),
                                    f"duplicate JSON key '{quote(str(duplicate))}'"))
            continue
        except (json.JSONDecodeError, RecursionError) as exc:
            message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            rejected.append(_reject(log_date, path, line_number, _unparsed(UNPARSED_JSON_LINE, line), f"invalid JSON: {message}"))
            continue
        if not isinstance(record, dict):
            rejected.append(_reject(log_date, path, line_number, _unparsed(UNPARSED_JSON_LINE, line), "a line must hold a JSON object"))
            continue
        row = {k.strip().lower(): (None if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) for k, v in record.items()}
        if len(row) != len(record):
            duplicated = next(k for k in row if sum(1 for original in record if original.strip().lower() == k) > 1)
            rejected.append(_reject(log_date, path, line_number, _unparsed(UNPARSED_JSON_LINE, line),
                                    f"duplicate JSON key '{quote(duplicated)}' (keys differing only in case or spaces)"))
            continue
        if not all(_is_valid_unicode(k) and (v is None or _is_valid_unicode(v)) for k, v in row.items()):
            rejected.append(_reject(log_date, path, line_number, _unparsed(UNPARSED_JSON_LINE, line),
                                    "a \\u escape is a lone surrogate, which is not valid Unicode text"))
            continue
        row = {k: v for k, v in row.items() if k in INPUT_COLUMNS}
        row["source_row"] = line_number
        records.append(row)
    if records:
        frame = pl.DataFrame(records, schema={**{k: pl.String() for k in INPUT_COLUMNS}, "source_row": pl.Int64()})
    else:
        frame = _empty_raw().drop("source_file")
    return frame, pl.DataFrame(rejected, schema=REJECTED_SCHEMA)


def read_event_file(path: Path, quote=None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read one event file as strings (see :func:`read_event_file_checked`)."""
    frame, rejected, _ = read_event_file_checked(path, quote)
    return frame, rejected


def read_event_file_checked(path: Path, quote=None) -> tuple[pl.DataFrame, pl.DataFrame, FileFingerprint]:
    """Read one event file as strings.

    Returns the rows (all input columns as strings, plus ``source_file`` and ``source_row``:
    the line number for CSV and JSONL, counting the header as line 1, or the 1-based row for
    Parquet), the rows that could not even be parsed, already with their reason, and the
    file's fingerprint as read. ``quote`` rewrites input values cited in reasons (masking).
    Raises :class:`EventFileError` if the file as a whole is unreadable or changes while read.
    """
    quote = quote or _identity
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson", ".parquet"):
        raise EventFileError(f"{path}: unsupported file type {suffix!r} (use .csv, .jsonl or .parquet)")
    if path.is_symlink():
        raise EventFileError(f"{path}: a symbolic link; event files are read only as regular files")
    try:
        data, fingerprint = _read_stable_bytes(path)
    except OSError as exc:
        raise EventFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if suffix == ".csv":
        frame, pre_rejected = _read_csv(path, data, quote)
    elif suffix in (".jsonl", ".ndjson"):
        frame, pre_rejected = _read_jsonl(path, data, quote)
    else:
        try:
            frame = pl.read_parquet(io.BytesIO(data), row_index_name="source_row", row_index_offset=1)
        except Exception as exc:  # polars and pyarrow raise many types for broken files
            raise EventFileError(f"{path}: cannot be read as parquet: {type(exc).__name__}: {str(exc)[:300]}") from None
        pre_rejected = empty_rejected()
        try:
            frame = _conform(frame.with_columns(pl.col("source_row").cast(pl.Int64)), path)
        except EventFileError:
            raise
        except Exception as exc:
            raise EventFileError(f"{path}: columns cannot be read as text: {type(exc).__name__}: {str(exc)[:300]}") from None
    return frame.with_columns(pl.lit(str(path)).alias("source_file")), pre_rejected, fingerprint


def _parse_timestamp(column: pl.Expr) -> pl.Expr:
    """ISO 8601 with an offset (converted to UTC), naive ISO (taken as UTC), with or without
    seconds, a date alone (midnight UTC), or Unix seconds / milliseconds."""
    text = column.str.strip_chars().str.replace(r"[zZ]$", "+00:00").str.replace(" ", "T")
    with_offset = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_zone="UTC").dt.replace_time_zone(None)
    minutes_offset = text.str.to_datetime("%Y-%m-%dT%H:%M%:z", strict=False, time_zone="UTC").dt.replace_time_zone(None)
    naive = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False)
    minutes = text.str.to_datetime("%Y-%m-%dT%H:%M", strict=False)
    date_only = pl.when(text.str.contains(r"^\d{4}-\d{2}-\d{2}$")).then(text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")))
    digits = pl.when(text.str.contains(r"^\d{9,10}$")).then(text.cast(pl.Int64, strict=False) * 1_000_000)
    digits = pl.when(text.str.contains(r"^\d{12,13}$")).then(text.cast(pl.Int64, strict=False) * 1_000).otherwise(digits)
    epoch = digits.cast(pl.Datetime("us"))
    return pl.coalesce(with_offset, minutes_offset, naive, minutes, date_only, epoch)


def _normalise_event_type(column: pl.Expr) -> pl.Expr:
    cleaned = column.str.strip_chars().str.to_lowercase().str.replace_all(r"[\s\-]+", "_")
    return cleaned.replace(EVENT_TYPE_SYNONYMS)


def _blank(column: str) -> pl.Expr:
    return pl.col(column).is_null() | (pl.col(column).str.strip_chars() == "")


def _too_long(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.len_chars() > MAX_ID_CHARS


def _too_long_reason(column: str) -> pl.Expr:
    return pl.format(f"{column} of {{}} characters is over the limit of {MAX_ID_CHARS}", pl.col(column).str.strip_chars().str.len_chars())


# Input values that reasons quote; with masking on they are quoted masked.
QUOTED_COLUMNS = ("event_type", "timestamp", "rating", "event_id")


def _reason(value, rules: ValidationRules) -> pl.Expr:
    """The first failing rule of a row; ``value(column)`` is how an input value is quoted. The row's
    ``log_date`` column bounds its timestamp, so one frame may hold many log dates."""
    day_start = pl.col("log_date").cast(pl.Datetime("us"))
    earliest = day_start - rules.timestamp_tolerance
    latest = day_start + (dt.timedelta(days=1) + rules.timestamp_tolerance)
    return (
        pl.when(_blank("user_id"))
        .then(pl.lit("missing user_id"))
        .when(_too_long("user_id"))
        .then(_too_long_reason("user_id"))
        .when(_too_long("item_id"))
        .then(_too_long_reason("item_id"))
        .when(_too_long("event_id"))
        .then(_too_long_reason("event_id"))
        .when(_blank("event_type"))
        .then(pl.lit("missing event_type"))
        .when(~pl.col("_event_type").is_in(EVENT_TYPES))
        .then(pl.format("unknown event type '{}'", value("event_type")))
        .when(_blank("timestamp"))
        .then(pl.lit("missing timestamp"))
        .when(pl.col("_event_ts").is_null())
        .then(pl.format("unparseable timestamp '{}'", value("timestamp")))
        .when((pl.col("_event_ts") < earliest) | (pl.col("_event_ts") >= latest))
        .then(pl.format("timestamp {} (UTC) is outside the log date {} by more than the tolerance", pl.col("_event_ts"), pl.col("log_date").cast(pl.String)))
        .when(_blank("item_id") & (pl.col("_event_type") != "search"))
        .then(pl.format("missing item_id for a {} event", pl.col("_event_type")))
        .when(~_blank("rating") & pl.col("_rating").is_null())
        .then(pl.format("rating '{}' is not a number", value("rating")))
        .when(pl.col("_rating").is_not_null() & ((pl.col("_rating") < 1) | (pl.col("_rating") > 5)))
        .then(pl.format("rating {} is outside 1..5", pl.col("_rating")))
        .when((pl.col("_event_type") == "rate") & pl.col("_rating").is_null())
        .then(pl.lit("missing rating for a rate event"))
        .when((pl.col("_event_type") == "search") & _blank("text"))
        .then(pl.lit("missing query text for a search event"))
        .when(pl.col("text").str.len_chars() > rules.max_text_chars)
        .then(pl.format("text of {} characters is over the limit of {}", pl.col("text").str.len_chars(), pl.lit(rules.max_text_chars)))
        .otherwise(None)
    )


def _quoted(frame: pl.DataFrame, columns: tuple[str, ...], quote) -> pl.DataFrame:
    """Columns ``_q_<name>``: the values as reasons may quote them (only for the few rejected rows).
    Ids are quoted as read, as the quarantine copy keeps them."""
    return frame.with_columns(
        (pl.col(c).map_elements(quote, return_dtype=pl.String) if quote and c not in ID_COLUMNS else pl.col(c)).alias(f"_q_{c}")
        for c in columns
    )


RAW_JSON = pl.struct(*INPUT_COLUMNS).struct.json_encode()


def validate_events(
    raw: pl.DataFrame,
    log_date: dt.date,
    rules: ValidationRules = ValidationRules(),
    pre_rejected: pl.DataFrame | None = None,
    quote=None,
) -> ValidatedEvents:
    """Validate and normalise the raw rows of one log date (see :func:`validate_log_dates`)."""
    pre_rejected = empty_rejected() if pre_rejected is None else pre_rejected
    return validate_log_dates(
        raw.with_columns(pl.lit(log_date).alias("log_date")),
        [log_date],
        rules,
        pre_rejected.with_columns(pl.lit(log_date).alias("log_date")),
        quote,
    )


def validate_log_dates(
    raw: pl.DataFrame,
    log_dates: Sequence[dt.date],
    rules: ValidationRules = ValidationRules(),
    pre_rejected: pl.DataFrame | None = None,
    quote=None,
) -> ValidatedEvents:
    """Validate and normalise the raw rows of several log dates at once, each by its own date.

    ``raw`` holds the input columns as strings plus ``source_file``, ``source_row`` and
    ``log_date`` (the date of the row's file); ``log_dates`` are the dates to count, files or not.
    Rules, first failing one wins: user id present; ids within MAX_ID_CHARS; event type known
    (after lower-casing and synonyms); timestamp present and parseable; timestamp within the
    tolerance of the log date; item id present for every type but search; rating numeric in
    1..5 (required for rate); search has a query; text within the size limit. Exact duplicate
    rows of a log date are dropped (kept once); a reused event id with other content on the same
    log date is rejected (across log dates see :func:`reject_event_ids_used_elsewhere`).
    ``quote`` rewrites the input values that reasons cite (masking of contact details).
    """
    pre_rejected = empty_rejected() if pre_rejected is None else pre_rejected
    parsed = raw.with_columns(
        pl.col("log_date").cast(pl.Date),
        _normalise_event_type(pl.col("event_type")).alias("_event_type"),
        _parse_timestamp(pl.col("timestamp")).alias("_event_ts"),
        pl.col("rating").str.strip_chars().cast(pl.Float64, strict=False).alias("_rating"),
    )
    checked = parsed.with_columns(_reason(pl.col, rules).alias("_reason"))

    invalid = _quoted(checked.filter(pl.col("_reason").is_not_null()), QUOTED_COLUMNS, quote)
    invalid = invalid.select(
        "log_date",
        "source_file",
        "source_row",
        RAW_JSON.alias("raw_row"),
        _reason(lambda c: pl.col(f"_q_{c}"), rules).alias("reason"),
    )

    valid = checked.filter(pl.col("_reason").is_null()).sort("log_date", "source_file", "source_row")
    deduplicated = valid.unique(subset=["log_date", *INPUT_COLUMNS], keep="first", maintain_order=True)

    # Rows without an event id get a content hash, so exact duplicates share one id.
    content_hash = RAW_JSON.map_batches(
        lambda s: pl.Series([hashlib.sha1(v.encode("utf-8")).hexdigest()[:20] for v in s], dtype=pl.String),
        return_dtype=pl.String,
    )
    accepted = deduplicated.with_columns(
        pl.when(_blank("event_id")).then(pl.lit("h") + content_hash).otherwise(pl.col("event_id").str.strip_chars()).alias("event_id")
    )
    reused_id = ~pl.struct("log_date", "event_id").is_first_distinct()
    id_conflicts = _quoted(accepted.filter(reused_id), ("event_id",), quote).select(
        "log_date",
        "source_file",
        "source_row",
        RAW_JSON.alias("raw_row"),
        pl.format("event_id '{}' is already used by another row with different content", pl.col("_q_event_id")).alias("reason"),
    )
    accepted = accepted.filter(~reused_id)
    accepted_raw = accepted.select(RAW_JSON).to_series().alias("raw_row")
    accepted = accepted.select(
        "log_date",
        "event_id",
        pl.col("user_id").str.strip_chars(),
        pl.when(_blank("item_id")).then(None).otherwise(pl.col("item_id").str.strip_chars()).alias("item_id"),
        pl.col("_event_type").alias("event_type"),
        pl.col("_event_ts").alias("event_ts"),
        pl.col("device").str.strip_chars(),
        pl.col("location").str.strip_chars(),
        pl.col("_rating").alias("rating"),
        pl.when(_blank("text")).then(None).otherwise(pl.col("text")).alias("text"),
        "source_file",
        "source_row",
    )
    rejected = pl.concat(
        [pre_rejected.cast(REJECTED_SCHEMA), invalid.cast(REJECTED_SCHEMA), id_conflicts.cast(REJECTED_SCHEMA)]
    ).sort("log_date", "source_file", "source_row")
    counts = _counts_per_date(log_dates, raw.select(pl.col("log_date").cast(pl.Date)), pre_rejected, valid, deduplicated)
    return ValidatedEvents(
        accepted=accepted.cast(ACCEPTED_SCHEMA),
        rejected=rejected,
        n_read=raw.height + pre_rejected.height,
        n_duplicates=valid.height - deduplicated.height,
        accepted_raw=accepted_raw,
        counts=counts,
    )


def _counts_per_date(log_dates, raw, pre_rejected, valid, deduplicated) -> pl.DataFrame:
    """Rows read (parsed or not) and duplicates dropped per log date, zero for dates without rows."""
    def per_date(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        return frame.group_by(pl.col("log_date").cast(pl.Date)).agg(pl.len().cast(pl.Int64).alias(name))

    dates = pl.DataFrame({"log_date": sorted(set(log_dates))}, schema={"log_date": pl.Date})
    for frame, name in ((raw, "parsed"), (pre_rejected, "unparsed"), (valid, "valid"), (deduplicated, "kept")):
        dates = dates.join(per_date(frame, name), on="log_date", how="left")
    zero = [pl.col(c).fill_null(0) for c in ("parsed", "unparsed", "valid", "kept")]
    return dates.with_columns(zero).select(
        "log_date", (pl.col("parsed") + pl.col("unparsed")).alias("read"), (pl.col("valid") - pl.col("kept")).alias("duplicates")
    ).cast(COUNTS_SCHEMA)


def reject_event_ids_used_elsewhere(result: ValidatedEvents, used: pl.DataFrame, quote=None) -> ValidatedEvents:
    """Move accepted rows whose event id is already held by another log date to the rejected rows.

    ``used`` has ``event_id`` and ``log_date``: ids stored before on dates outside ``result``.
    The first log date that holds an id keeps it: across runs the one stored first, within
    ``result`` (which may span many log dates) the earliest.
    """
    if not result.accepted.height:
        return result
    stored = used.select("event_id", pl.col("log_date").cast(pl.Date).alias("_stored_on")).unique("event_id", keep="first")
    marked = (
        result.accepted.with_columns(result.accepted_raw)
        .join(stored, on="event_id", how="left", maintain_order="left")
        .with_columns(pl.coalesce("_stored_on", pl.col("log_date").min().over("event_id")).alias("_used_on"))
    )
    clash = pl.col("_stored_on").is_not_null() | (pl.col("_used_on") < pl.col("log_date"))
    if not marked.select(clash.any()).item():
        return result
    moved = _quoted(marked.filter(clash), ("event_id",), quote).select(
        "log_date",
        "source_file",
        "source_row",
        "raw_row",
        pl.format("event_id '{}' is already used on log date {}", pl.col("_q_event_id"), pl.col("_used_on")).alias("reason"),
    )
    kept = marked.filter(~clash)
    return ValidatedEvents(
        accepted=kept.select(list(ACCEPTED_SCHEMA)),
        rejected=pl.concat([result.rejected, moved.cast(REJECTED_SCHEMA)]).sort("log_date", "source_file", "source_row"),
        n_read=result.n_read,
        n_duplicates=result.n_duplicates,
        accepted_raw=kept["raw_row"],
        fingerprints=result.fingerprints,
        counts=result.counts,
    )


def load_log_date(files: list[Path], log_date: dt.date, rules: ValidationRules = ValidationRules(), quote=None) -> ValidatedEvents:
    """Read and validate every file of one log date together (duplicates may span files)."""
    return load_log_dates({log_date: files}, rules, quote)


def load_log_dates(files_by_date: Mapping[dt.date, Sequence[Path]], rules: ValidationRules = ValidationRules(), quote=None) -> ValidatedEvents:
    """Read every file of every log date, then validate them all in one pass, each row by its
    file's log date (dates without files are counted with zero rows). Event ids shared by two of
    these dates are not resolved here: see :func:`reject_event_ids_used_elsewhere`."""
    # Per file only what must be per file: thousands of small frames make every extra frame
    # operation count (the log date column is added once, to all rows together).
    frames, row_dates, pre_rejected, fingerprints = [], [], [], {}
    for log_date, files in sorted(files_by_date.items()):
        for path in files:
            frame, bad, fingerprint = read_event_file_checked(path, quote)
            frames.append(frame)  # every reader gives the input columns, source_row, source_file in this order
            row_dates.append((log_date, frame.height))
            if bad.height:
                pre_rejected.append(bad.with_columns(pl.lit(log_date).alias("log_date")))
            fingerprints[str(path)] = fingerprint
    raw = (pl.concat(frames, how="vertical") if frames else _empty_raw()).select(*INPUT_COLUMNS, "source_file", "source_row")
    dates = pl.Series("log_date", [day for day, _ in row_dates], dtype=pl.Date).gather(
        pl.Series([k for k, (_, n) in enumerate(row_dates) for _ in range(n)], dtype=pl.UInt32)
    )
    raw = raw.with_columns(dates)
    bad = pl.concat(pre_rejected) if pre_rejected else empty_rejected()
    result = validate_log_dates(raw, list(files_by_date), rules, pre_rejected=bad, quote=quote)
    return ValidatedEvents(result.accepted, result.rejected, result.n_read, result.n_duplicates, result.accepted_raw, fingerprints, result.counts)
