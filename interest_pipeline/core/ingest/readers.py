"""Reading one event file (CSV, JSONL or Parquet) as strings; rows that cannot be parsed are
quarantined with their file, row and reason.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import sys
from pathlib import Path

import polars as pl

from interest_pipeline.core.ingest.event_files import FileFingerprint, log_date_of, read_stable_bytes
from interest_pipeline.core.ingest.event_schema import INPUT_COLUMNS, REJECTED_SCHEMA, REQUIRED_COLUMNS, EventFileError
from interest_pipeline.core.ingest.privacy import UNPARSED_CSV_LINE, UNPARSED_JSON_LINE

# A single text may be long (it is rejected by the text limit, with its reason, not here).
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def empty_raw() -> pl.DataFrame:
    return pl.DataFrame(
        schema={**{c: pl.String() for c in INPUT_COLUMNS}, "source_file": pl.String(), "source_row": pl.Int64()}
    )


def empty_rejected() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECTED_SCHEMA)


def _identity(value: str) -> str:
    return value


def _normalised_columns(names: list[str], path: Path) -> list[str]:
    """Column names trimmed and lower-cased; two columns that then coincide are an error.

    The message names a repeated column only when it is a known one: a file without a header
    puts its first row there, and two equal values of that row (an id, an empty field) would
    otherwise be quoted in the error, which goes to the run's logs and storage.
    """
    normalised = [name.strip().lower() for name in names]
    seen: dict[str, int] = {}
    for position, name in enumerate(normalised):
        if name in seen:
            first, exact = seen[name] + 1, names[seen[name]] == names[position]
            if name in INPUT_COLUMNS:
                same = "the same column" if exact else "columns differing only in case or spaces"
                raise EventFileError(
                    f"{path}: the header holds {same} {name!r} twice (columns {first} and {position + 1})"
                )
            same = "the same name" if exact else "names differing only in case or spaces"
            raise EventFileError(
                f"{path}: the header holds {same} in columns {first} and {position + 1}, not a known column: "
                "the first line looks like data, not a header"
            )
        seen[name] = position
    return normalised


def _check_required(columns: list[str], path: Path) -> None:
    """The message names what is missing and a near miss among the columns found, but never
    lists the columns themselves: a file without a header would put row content there. A near
    miss is named only beside a known column: a first line with none is data, and a value of it
    may be close to a column name ("user_i7")."""
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if not missing:
        return
    known = [c for c in columns if c in INPUT_COLUMNS]
    hints = []
    for name in missing if known else ():
        close = difflib.get_close_matches(name, columns, n=1, cutoff=0.75)
        if close:
            hints.append(f"{close[0]!r} for {name}?")
    raise EventFileError(
        f"{path}: missing required column(s) {', '.join(missing)}; the header has {len(columns)} column(s), of which "
        f"{', '.join(known) if known else 'none'} known"
        + (f"; did you mean {' '.join(hints)}" if hints else "")
        + " (is the first line a header?)"
    )


def _conform(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Keep the known columns as strings, add missing optional ones as nulls."""
    columns = _normalised_columns([c for c in frame.columns if c != "source_row"], path)
    frame = frame.rename(dict(zip([c for c in frame.columns if c != "source_row"], columns)))
    _check_required(columns, path)
    for name in INPUT_COLUMNS:
        if name in frame.columns and not _castable_to_text(frame.schema[name]):
            raise EventFileError(
                f"{path}: column {name!r} has type {frame.schema[name]}, which is not text, a number or a time"
            )
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
                    yield (
                        start,
                        end,
                        None,
                        "malformed quoting: a closing quote must be followed by a comma or the line end",
                    )
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
        rejected.append(
            _reject(log_date, path, start + 1, _unparsed(UNPARSED_CSV_LINE, _shown_bytes(raw_text)), reason)
        )

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
            **{
                c: pl.Series(c, [r[i] or None for r in rows] if i is not None else [None] * len(rows), dtype=pl.String)
                for c, i in zip(INPUT_COLUMNS, wanted)
            },
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
            rejected.append(
                _reject(
                    log_date,
                    path,
                    line_number,
                    json.dumps(shown, ensure_ascii=False),
                    f"invalid UTF-8 in {', '.join(bad)}",
                )
            )
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
            rejected.append(
                _reject(
                    log_date,
                    path,
                    line_number,
                    _unparsed(UNPARSED_JSON_LINE, _shown_bytes(line)),
                    "text is not valid UTF-8",
                )
            )
            continue
        try:
            record = json.loads(line, object_pairs_hook=_object_without_duplicates)
        except _DuplicateKey as duplicate:
            rejected.append(
                _reject(
                    log_date,
                    path,
                    line_number,
                    _unparsed(UNPARSED_JSON_LINE, line),
                    f"duplicate JSON key '{quote(str(duplicate))}'",
                )
            )
            continue
        except (json.JSONDecodeError, RecursionError) as exc:
            message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            rejected.append(
                _reject(log_date, path, line_number, _unparsed(UNPARSED_JSON_LINE, line), f"invalid JSON: {message}")
            )
            continue
        if not isinstance(record, dict):
            rejected.append(
                _reject(
                    log_date, path, line_number, _unparsed(UNPARSED_JSON_LINE, line), "a line must hold a JSON object"
                )
            )
            continue
        row = {
            k.strip().lower(): (None if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
            for k, v in record.items()
        }
        if len(row) != len(record):
            duplicated = next(k for k in row if sum(1 for original in record if original.strip().lower() == k) > 1)
            rejected.append(
                _reject(
                    log_date,
                    path,
                    line_number,
                    _unparsed(UNPARSED_JSON_LINE, line),
                    f"duplicate JSON key '{quote(duplicated)}' (keys differing only in case or spaces)",
                )
            )
            continue
        if not all(_is_valid_unicode(k) and (v is None or _is_valid_unicode(v)) for k, v in row.items()):
            rejected.append(
                _reject(
                    log_date,
                    path,
                    line_number,
                    _unparsed(UNPARSED_JSON_LINE, line),
                    "a \\u escape is a lone surrogate, which is not valid Unicode text",
                )
            )
            continue
        row = {k: v for k, v in row.items() if k in INPUT_COLUMNS}
        row["source_row"] = line_number
        records.append(row)
    if records:
        frame = pl.DataFrame(records, schema={**{k: pl.String() for k in INPUT_COLUMNS}, "source_row": pl.Int64()})
    else:
        frame = empty_raw().drop("source_file")
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
        data, fingerprint = read_stable_bytes(path)
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
            raise EventFileError(
                f"{path}: columns cannot be read as text: {type(exc).__name__}: {str(exc)[:300]}"
            ) from None
    return frame.with_columns(pl.lit(str(path)).alias("source_file")), pre_rejected, fingerprint
