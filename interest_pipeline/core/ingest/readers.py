"""Reading one event file (CSV, JSONL or Parquet) as strings; rows that cannot be parsed are
quarantined with their file, row and reason.

CSV and JSONL files are read line by line while their SHA-256 is computed, so that memory follows
the rows, not the bytes of the file: a line over MAX_LINE_CHARS is quarantined as too long without
ever being held whole, and every quarantine copy (raw_row) is cut to MAX_QUARANTINE_CHARS.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import io
import json
import re
import sys
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from interest_pipeline.core.ingest.event_files import FileFingerprint, log_date_of, read_stable_bytes
from interest_pipeline.core.ingest.event_schema import (
    ID_COLUMNS,
    INPUT_COLUMNS,
    MAX_LINE_CHARS,
    MAX_QUARANTINE_CHARS,
    REJECTED_SCHEMA,
    REQUIRED_COLUMNS,
    EventFileError,
)
from interest_pipeline.core.ingest.privacy import UNPARSED_CSV_LINE, UNPARSED_JSON_LINE

# A record is bounded by MAX_LINE_CHARS when it is read; the csv module's own field limit must not
# cut in first (a single text may be long: it is rejected by the text limit, with its reason).
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

# Rows are gathered into a polars frame every so many rows: compact strings, not Python objects.
ROWS_PER_FRAME = 50_000

# Bytes read at a time from a CSV or JSONL file.
CHUNK_BYTES = 1 << 20

UNBALANCED_QUOTE = "unbalanced quote: a quoted field opened on this line is never closed"
MALFORMED_QUOTING = "malformed quoting: a closing quote must be followed by a comma or the line end"


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


def _conform(frame: pl.DataFrame, path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the known columns as strings, add missing optional ones as nulls; rows whose id is a
    floating-point number that is not finite (NaN, infinity) are rejected, not turned into ids."""
    columns = _normalised_columns([c for c in frame.columns if c != "source_row"], path)
    frame = frame.rename(dict(zip([c for c in frame.columns if c != "source_row"], columns)))
    _check_required(columns, path)
    for name in INPUT_COLUMNS:
        if name in frame.columns and not _castable_to_text(frame.schema[name]):
            raise EventFileError(
                f"{path}: column {name!r} has type {frame.schema[name]}, which is not text, a number or a time"
            )
    float_ids = [c for c in ID_COLUMNS if c in frame.columns and frame.schema[c].is_float()]
    reason = pl.coalesce(
        pl.lit(None, dtype=pl.String),
        *(
            pl.when(~pl.col(c).is_finite()).then(
                pl.format(f"{c} is the number {{}}, which is not finite and cannot be an id", pl.col(c).cast(pl.String))
            )
            for c in float_ids
        ),
    )
    selected = [
        (pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, dtype=pl.String)).alias(c)
        for c in INPUT_COLUMNS
    ]
    frame = frame.select(*selected, pl.col("source_row"), reason.alias("_reason"))
    bad = frame.filter(pl.col("_reason").is_not_null())
    log_date = log_date_of(path)
    rejected = [
        _reject(log_date, path, row["source_row"], quarantine_copy({c: row[c] for c in INPUT_COLUMNS}), row["_reason"])
        for row in bad.iter_rows(named=True)
    ]
    kept = frame.filter(pl.col("_reason").is_null()) if bad.height else frame
    return kept.drop("_reason"), pl.DataFrame(rejected, schema=REJECTED_SCHEMA)


def _castable_to_text(dtype: pl.DataType) -> bool:
    # Dictionary-encoded text columns arrive as Categorical (or Enum): their values are text.
    return (
        dtype == pl.String
        or dtype.is_numeric()
        or dtype.is_temporal()
        or dtype == pl.Boolean
        or dtype == pl.Null
        or isinstance(dtype, pl.Categorical | pl.Enum)
    )


def _reject(log_date, path: Path, row: int, raw: str, reason: str) -> dict:
    return {"log_date": log_date, "source_file": str(path), "source_row": row, "raw_row": raw, "reason": reason}


# Quarantine copies --------------------------------------------------------------------------------


def cut_marker(total: int) -> str:
    """What ends a value cut short in a quarantine copy or a reason: how long the whole was."""
    return f"…[cut: {total} characters in all]"


def _json_chars(text: str) -> int:
    """Characters ``text`` takes inside a JSON string (escapes such as \\u0000 counted)."""
    return len(json.dumps(text, ensure_ascii=False)) - 2


def cut_for_quarantine(text: str, room: int, total: int | None = None) -> str:
    """``text`` as a quarantine copy holds it: whole when it fits ``room`` characters written as a
    JSON string, else its longest start that fits together with :func:`cut_marker`. ``total`` is
    the length of the whole value when ``text`` is only its start (it is then always marked)."""
    total = len(text) if total is None else total
    if total == len(text) and len(text) <= room and _json_chars(text) <= room:
        return text
    marker = cut_marker(total)
    room = max(room - len(marker), 0)
    keep = min(len(text), room)
    while keep:
        chars = _json_chars(text[:keep])
        if chars <= room:
            break
        keep = min(keep - 1, keep * room // chars)
    return text[:keep] + marker


def quarantine_copy(fields: Mapping[str, object], lengths: Mapping[str, int] | None = None) -> str:
    """A rejected row's fields as one JSON object of at most MAX_QUARANTINE_CHARS characters.

    ``lengths`` gives the whole length of values that are only the start of what was read. When
    the object would be longer, the room is shared: values that fit their share stay whole, the
    longest are cut, each with a marker saying how long it was. The keys and their order stay.
    """
    lengths = lengths or {}
    texts = {k: v for k, v in fields.items() if isinstance(v, str)}
    partial = {k for k, v in texts.items() if lengths.get(k, len(v)) > len(v)}
    if not partial and sum(len(v) for v in texts.values()) <= MAX_QUARANTINE_CHARS:
        encoded = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        if len(encoded) <= MAX_QUARANTINE_CHARS:
            return encoded
    skeleton = json.dumps({k: "" if k in texts else v for k, v in fields.items()}, separators=(",", ":"))
    room = MAX_QUARANTINE_CHARS - len(skeleton)
    needs = {
        k: (room + 1 if k in partial or len(v) > room else _json_chars(v)) for k, v in texts.items()
    }  # what each value takes whole (more than the room: it must be cut)
    kept: dict[str, str] = {}
    for left, name in zip(range(len(needs), 0, -1), sorted(needs, key=needs.__getitem__)):
        share = room // left
        value = texts[name]
        kept[name] = value if needs[name] <= share else cut_for_quarantine(value, share, lengths.get(name, len(value)))
        room -= _json_chars(kept[name])
    return json.dumps({k: kept.get(k, v) for k, v in fields.items()}, ensure_ascii=False, separators=(",", ":"))


def _unparsed(kind: str, text: str, total: int | None = None) -> str:
    """A line that could not be split into fields as its quarantine copy ``{kind: line}``, the line
    cut when long; ``total`` is the line's whole length when ``text`` is only its start. Invalid
    UTF-8 bytes (surrogate escapes) are shown as \\xNN."""
    total = len(text) if total is None else total
    start = text[:MAX_QUARANTINE_CHARS]
    shown = start if _is_valid_unicode(start) else _shown_bytes(start)
    room = MAX_QUARANTINE_CHARS - len(json.dumps({kind: ""}))
    whole = len(shown) if total == len(start) else total
    return json.dumps({kind: cut_for_quarantine(shown, room, whole)}, ensure_ascii=False)


def _shown_bytes(text: str) -> str:
    """Text decoded with surrogateescape, with its invalid bytes written as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _is_valid_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# Reading a file line by line -----------------------------------------------------------------------


@dataclass(frozen=True)
class LongLine:
    """A line over MAX_LINE_CHARS: its first characters and its whole length (without its ending)."""

    start: str
    length: int

    def reason(self) -> str:
        return f"line of {self.length} characters is over the limit of {MAX_LINE_CHARS}"


def _ending_length(text: str) -> int:
    if text.endswith("\r\n"):
        return 2
    return 1 if text.endswith(("\n", "\r")) else 0


def _long_line(line: str, limit: int) -> LongLine:
    return LongLine(line[:limit], len(line) - _ending_length(line))


def _first_line_end(chunk: str) -> int | None:
    """Where the first line of ``chunk`` ends (after its ending), None when it does not end in
    ``chunk`` (or ends in a CR that is the chunk's last character: an LF may follow)."""
    lf, cr = chunk.find("\n"), chunk.find("\r")
    if cr == -1 or (lf != -1 and lf < cr):
        return None if lf == -1 else lf + 1
    if cr + 1 == len(chunk):
        return None
    return cr + 2 if chunk[cr + 1] == "\n" else cr + 1


@dataclass(frozen=True)
class LineBatch:
    """Consecutive lines of a file, as one piece of it gave them. ``plain``: none of them holds a
    quote character or invalid UTF-8, and none is over the limit (CSV splits them in one go)."""

    lines: list[str | LongLine]
    plain: bool


def line_batches(chunks: Iterator[str], limit: int = MAX_LINE_CHARS) -> Iterator[LineBatch]:
    """The lines of a text given in pieces, ending in LF, CRLF or a lone CR (old Mac files), endings
    kept, a batch per piece. A line over ``limit`` characters comes as a :class:`LongLine`: it is
    never held whole, only its start, while the rest of it is read and dropped piece by piece."""
    partial = ""  # the start of a line that may go on in the next piece
    long_start: str | None = None  # the start of a line over the limit that goes on
    long_chars = 0
    long_cr = False  # that line's last piece ended in a CR: an LF may follow
    for chunk in chunks:
        if long_start is not None:
            if long_cr:
                end = 1 if chunk.startswith("\n") else 0
                ending = 1 + end
            else:
                end = _first_line_end(chunk)
                ending = 0 if end is None else _ending_length(chunk[:end])
            if end is None:
                long_chars += len(chunk)
                long_cr = chunk.endswith("\r")
                continue
            yield LineBatch([LongLine(long_start, long_chars + end - ending)], False)
            long_start, long_cr = None, False
            chunk = chunk[end:]
        text = partial + chunk if partial else chunk
        lines: list = io.StringIO(text, newline="").readlines()
        partial = ""
        if not lines:
            continue
        last = lines[-1]
        if not last.endswith("\n"):
            lines.pop()
            if len(last) > limit:
                long_start, long_chars, long_cr = last[:limit], len(last), last.endswith("\r")
            else:
                partial = last
        plain = len(text) <= limit and '"' not in text and _is_valid_unicode(text)
        if not plain:
            lines = [line if len(line) <= limit else _long_line(line, limit) for line in lines]
        if lines:
            yield LineBatch(lines, plain)
    if long_start is not None:
        yield LineBatch([LongLine(long_start, long_chars - (1 if long_cr else 0))], False)
    elif partial:
        yield LineBatch([partial], False)


def physical_lines(chunks: Iterator[str], limit: int = MAX_LINE_CHARS) -> Iterator[str | LongLine]:
    """The lines of :func:`line_batches`, one by one."""
    for batch in line_batches(chunks, limit):
        yield from batch.lines


class StreamedFile:
    """A regular file read once, from start to end, in pieces decoded as UTF-8 (invalid bytes kept
    as surrogate escapes so rows can be told apart, a byte order mark dropped), while its size and
    SHA-256 are computed. :meth:`fingerprint`, once everything is read, refuses a file whose size
    or modification time changed while it was read."""

    def __init__(self, path: Path, chunk_bytes: int = CHUNK_BYTES):
        self.path = path
        self.chunk_bytes = chunk_bytes
        self._before = _stat(path)
        self._digest = hashlib.sha256()
        self._size = 0
        self._done = False

    def chunks(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        first = True
        with self.path.open("rb") as handle:
            while True:
                data = handle.read(self.chunk_bytes)
                self._digest.update(data)
                self._size += len(data)
                text = decoder.decode(data, final=not data)
                if first and text:
                    first = False
                    text = text.removeprefix("\ufeff")
                if text:
                    yield text
                if not data:
                    break
        self._done = True

    def lines(self) -> Iterator[str | LongLine]:
        return physical_lines(self.chunks())

    def line_batches(self) -> Iterator[LineBatch]:
        return line_batches(self.chunks())

    def fingerprint(self) -> FileFingerprint:
        if not self._done:
            raise RuntimeError(f"{self.path}: the fingerprint of a file is known only once it is read to the end")
        after = _stat(self.path)
        if after != self._before or self._size != after[0]:
            raise EventFileError(
                f"{self.path}: the file changed while it was read (size or modification time); write it under a "
                "temporary name (.tmp, .part or a leading '.') and rename it when complete, then run again"
            )
        return FileFingerprint(after[0], after[1], self._digest.hexdigest())


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


class _Rows:
    """Rows kept so far, as polars frames of ROWS_PER_FRAME rows (compact strings instead of Python
    ones); ``add`` takes a row as a list of fields (CSV, ``wanted`` gives the input columns'
    positions) or as a dict by column name (JSON)."""

    def __init__(self, wanted: list[int | None] | None = None):
        self.wanted = wanted
        self.pending: list = []
        self.numbers: list[int] = []
        self.frames: list[pl.DataFrame] = []

    def add(self, row, number: int) -> None:
        self.pending.append(row)
        self.numbers.append(number)
        if len(self.pending) >= ROWS_PER_FRAME:
            self._flush()

    def add_frame(self, frame: pl.DataFrame) -> None:
        """Rows already in a frame (input columns and source_row), after those added before."""
        self._flush()
        self.frames.append(frame)

    def _flush(self) -> None:
        if not self.pending:
            return
        rows = self.pending
        if self.wanted is None:
            values = {c: [r.get(c) for r in rows] for c in INPUT_COLUMNS}
        else:  # an empty CSV field is a missing value, as in any CSV reader
            values = {
                c: [r[i] or None for r in rows] if i is not None else [None] * len(rows)
                for c, i in zip(INPUT_COLUMNS, self.wanted)
            }
        self.frames.append(
            pl.DataFrame(
                {
                    **{c: pl.Series(c, v, dtype=pl.String) for c, v in values.items()},
                    "source_row": pl.Series("source_row", self.numbers, dtype=pl.Int64),
                }
            )
        )
        self.pending, self.numbers = [], []

    def frame(self) -> pl.DataFrame:
        self._flush()
        if not self.frames:
            return empty_raw().drop("source_file")
        return pl.concat(self.frames, how="vertical", rechunk=False) if len(self.frames) > 1 else self.frames[0]


# CSV ----------------------------------------------------------------------------------------------


class _RecordTooLong(Exception):
    """A CSV record went on over several lines past MAX_LINE_CHARS."""


class _RecordFeed:
    """The lines of one CSV record at a time, for the csv module: the record's first line is handed
    in, the lines after it (inside a quoted field) are drawn from the source as the module asks;
    ``window`` holds the record's numbered lines. A record growing over MAX_LINE_CHARS stops with
    :class:`_RecordTooLong`, the line that did not fit given back to the source."""

    def __init__(self, draw: Callable, give_back: Callable):
        self.draw, self.give_back = draw, give_back
        self.first = None
        self.window: list[tuple[int, str]] = []
        self.chars = 0

    def start(self, item: tuple[int, str]) -> None:
        self.first, self.window, self.chars = item, [], 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.first is not None:
            item, self.first = self.first, None
        else:
            item = self.draw()
            if item is None:
                raise StopIteration
            line = item[1]
            if isinstance(line, LongLine) or self.chars + len(line) > MAX_LINE_CHARS:
                self.give_back(item)
                raise _RecordTooLong
        self.window.append(item)
        self.chars += len(item[1])
        return item[1]


class _LineSource:
    """Numbered lines (from 1) drawn one by one, or the rest of a plain batch at once."""

    def __init__(self, batches: Iterator[LineBatch]):
        self.batches = batches
        self.lines: list = []
        self.position = 0
        self.plain = False
        self.number = 1  # of the next line

    def _next_batch(self) -> bool:
        batch = next(self.batches, None)
        if batch is None:
            return False
        self.lines, self.position, self.plain = batch.lines, 0, batch.plain
        return True

    def draw(self) -> tuple[int, str | LongLine] | None:
        while self.position >= len(self.lines):
            if not self._next_batch():
                return None
        item = self.number, self.lines[self.position]
        self.position += 1
        self.number += 1
        return item

    def plain_lines(self) -> tuple[int, list[str]] | None:
        """(number of the first, lines): the rest of the current batch when it is plain, else None."""
        if self.position >= len(self.lines) and not self._next_batch():
            return None
        if not self.plain:
            return None
        first, lines = self.number, self.lines[self.position :] if self.position else self.lines
        self.number += len(lines)
        self.lines, self.position = [], 0
        return first, lines


def _csv_records(source: _LineSource, n_columns: int):
    """Per record: (first line number, the record's numbered lines, fields or None, problem or None);
    or (number of the first line, None, lines, None) for lines without any quote, split in one go.

    A line without a quote character is one record, split at commas; from a line with one the csv
    module reads the record, over several lines where a quoted field holds line breaks. A quoted
    field that is never closed would swallow the rest of the file; it is reported on its own line
    and reading resumes on the next line. A record spanning several lines whose field count does
    not match is taken as the same problem, and so is one going on past MAX_LINE_CHARS. A line over
    MAX_LINE_CHARS is a problem of its own.
    """
    pending: deque = deque()  # lines given back, read again before the source's next ones

    def draw():
        return pending.popleft() if pending else source.draw()

    feed = _RecordFeed(draw, pending.appendleft)
    reader = csv.reader(feed, strict=True)
    while True:
        plain = None if pending else source.plain_lines()
        if plain is not None:
            yield plain[0], None, plain[1], None
            continue
        item = draw()
        if item is None:
            return
        number, line = item
        if isinstance(line, LongLine):
            yield number, [item], None, line.reason()
            continue
        if '"' not in line:
            yield number, [item], line.rstrip("\r\n").split(","), None
            continue
        feed.start(item)
        try:
            fields = next(reader)
        except _RecordTooLong:
            yield number, feed.window[:1], None, f"{UNBALANCED_QUOTE} within {MAX_LINE_CHARS} characters"
            pending.extendleft(reversed(feed.window[1:]))
            reader = csv.reader(feed, strict=True)
            continue
        except csv.Error as error:
            window = feed.window
            if "unexpected end of data" in str(error) or len(window) > 1:
                yield number, window[:1], None, UNBALANCED_QUOTE
                pending.extendleft(reversed(window[1:]))
            else:
                yield number, window, None, MALFORMED_QUOTING
            reader = csv.reader(feed, strict=True)
            continue
        window = feed.window
        if len(window) > 1 and fields and len(fields) != n_columns:
            yield number, window[:1], None, UNBALANCED_QUOTE
            pending.extendleft(reversed(window[1:]))
            continue
        yield number, window, fields, None


def _plain_rows(
    lines: list[str], first: int, n_columns: int, wanted: list[int | None]
) -> tuple[pl.DataFrame, list[tuple[int, list[str]]]]:
    """Lines without any quote character split at commas in one go: the rows with the header's
    field count as a frame, and the others as (line number, fields)."""
    parts = pl.Series("parts", lines, dtype=pl.String).str.strip_chars_end("\r\n").str.split(",")
    counts = parts.list.len()
    table = pl.DataFrame(
        [parts, pl.int_range(first, first + len(lines), dtype=pl.Int64, eager=True).alias("source_row")]
    )
    good = table.filter(counts == n_columns)

    def column(name: str, position: int | None) -> pl.Expr:
        if position is None:
            return pl.lit(None, dtype=pl.String).alias(name)
        value = pl.col("parts").list.get(position)
        return pl.when(value != "").then(value).alias(name)  # an empty field is a missing value

    frame = good.select(*(column(c, i) for c, i in zip(INPUT_COLUMNS, wanted)), "source_row")
    odd = (counts != n_columns).arg_true().to_list()
    return frame, [(first + k, lines[k].rstrip("\r\n").split(",")) for k in odd]


def _read_csv(path: Path, batches: Iterator[LineBatch], quote) -> tuple[pl.DataFrame, pl.DataFrame]:
    """CSV read record by record, so that a bad row is quarantined with its line, not the whole file."""
    log_date = log_date_of(path)
    source = _LineSource(batches)
    first = source.draw()
    if first is None:
        # Nothing at all, as an empty JSONL file: no rows. A stored day whose file was emptied
        # is caught before anything is stored (core/ingest/stored_files.py).
        return empty_raw().drop("source_file"), empty_rejected()
    if isinstance(first[1], LongLine):
        raise EventFileError(f"{path}: the header line is over the limit of {MAX_LINE_CHARS} characters")
    header = next(csv.reader([first[1]]), [])
    if not _is_valid_unicode("".join(header)):
        raise EventFileError(f"{path}: the header line is not valid UTF-8")
    columns = _normalised_columns(header, path)
    _check_required(columns, path)
    wanted = [(columns.index(c) if c in columns else None) for c in INPUT_COLUMNS]
    n_columns = len(columns)
    rows = _Rows(wanted)
    rejected: list[dict] = []

    def odd_row(number: int, record: list, fields: list[str]) -> None:
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            return  # a blank line is not a row
        problem = f"row has {len(fields)} field(s), the header has {n_columns}"
        raw = _unparsed(UNPARSED_CSV_LINE, "".join(line for _, line in record).rstrip("\r\n"))
        rejected.append(_reject(log_date, path, number, raw, problem))

    for number, record, fields, problem in _csv_records(source, n_columns):
        if record is None:  # plain lines, split in one go
            frame, others = _plain_rows(fields, number, n_columns, wanted)
            rows.add_frame(frame)
            for line_number, line_fields in others:
                odd_row(line_number, [(line_number, ",".join(line_fields))], line_fields)
        elif problem is not None:
            line = record[0][1]
            if isinstance(line, LongLine):
                raw = _unparsed(UNPARSED_CSV_LINE, line.start, line.length)
            else:
                raw = _unparsed(UNPARSED_CSV_LINE, "".join(text for _, text in record).rstrip("\r\n"))
            rejected.append(_reject(log_date, path, number, raw, problem))
        elif len(fields) != n_columns:
            odd_row(number, record, fields)
        elif all(_is_valid_unicode(line) for _, line in record):
            rows.add(fields, number)
        else:
            _keep_valid_utf8(fields, number, rows, wanted, log_date, path, rejected)
    return rows.frame(), pl.DataFrame(rejected, schema=REJECTED_SCHEMA)


def _keep_valid_utf8(fields, number, rows, wanted, log_date, path, rejected) -> None:
    """A row whose known fields hold bytes that are not UTF-8 goes to the rejected rows, shown as \\xNN."""
    values = [fields[i] if i is not None and fields[i] != "" else None for i in wanted]
    bad = [c for c, v in zip(INPUT_COLUMNS, values) if v is not None and not _is_valid_unicode(v)]
    if not bad:
        rows.add(fields, number)
        return
    starts = {c: None if v is None else v[:MAX_QUARANTINE_CHARS] for c, v in zip(INPUT_COLUMNS, values)}
    shown = {c: None if v is None else _shown_bytes(v) for c, v in starts.items()}
    lengths = {c: len(v) for c, v in zip(INPUT_COLUMNS, values) if v is not None and len(v) > MAX_QUARANTINE_CHARS}
    rejected.append(
        _reject(log_date, path, number, quarantine_copy(shown, lengths), f"invalid UTF-8 in {', '.join(bad)}")
    )


# JSON lines ---------------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict:
    record: dict = {}
    for key, value in pairs:
        if key in record:
            raise _DuplicateKey(key)
        record[key] = value
    return record


@dataclass(frozen=True)
class JsonNumber:
    """A JSON number as written in the file: read as a float, 1e400 would become Infinity and
    12345678901234567890.5 would lose digits, and ids that differ would merge."""

    text: str
    finite: bool = True


def _json_number(text: str) -> JsonNumber:
    return JsonNumber(text)


def _json_constant(text: str) -> JsonNumber:
    return JsonNumber(text, finite=False)  # NaN, Infinity, -Infinity


def _nested_number(value: object):
    """A number inside an object or list (a text given as JSON), written back as a number."""
    if not isinstance(value, JsonNumber):
        raise TypeError(f"{type(value).__name__} is not JSON")
    if re.fullmatch(r"-?\d{1,4000}", value.text):
        return int(value.text)
    return float(value.text)


def json_value_as_text(value: object) -> str | None:
    """A JSON value as the text the row keeps: strings as they are, numbers exactly as written,
    anything else (true, an object) as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, JsonNumber):
        return value.text
    return json.dumps(value, ensure_ascii=False, default=_nested_number)


_JSON_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicates,
    parse_float=_json_number,
    parse_int=_json_number,
    parse_constant=_json_constant,
)


def parse_json_line(line: str) -> object:
    """One JSON value, numbers kept as written (:class:`JsonNumber`); a key given twice raises."""
    return _JSON_DECODER.decode(line)


def _json_line_problem(line: str, quote) -> tuple[dict | None, str | None]:
    """(row by lower-cased column name, None) for a good line, else (None, the reason)."""
    if not _is_valid_unicode(line):
        return None, "text is not valid UTF-8"
    try:
        record = parse_json_line(line)
    except _DuplicateKey as duplicate:
        return None, f"duplicate JSON key '{quote(str(duplicate))}'"
    except (json.JSONDecodeError, RecursionError) as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        return None, f"invalid JSON: {message}"
    if not isinstance(record, dict):
        return None, "a line must hold a JSON object"
    row = {k.strip().lower(): v for k, v in record.items()}
    if len(row) != len(record):
        duplicated = next(k for k in row if sum(1 for original in record if original.strip().lower() == k) > 1)
        return None, f"duplicate JSON key '{quote(duplicated)}' (keys differing only in case or spaces)"
    for name in ID_COLUMNS:
        value = row.get(name)
        if isinstance(value, JsonNumber) and not value.finite:
            return None, f"{name} is the number {value.text}, which is not finite and cannot be an id"
    # Only a \u escape can put a lone surrogate into a valid line; keys and values are checked then.
    if "\\u" in line and not all(
        _is_valid_unicode(k) and _is_valid_unicode(json_value_as_text(v) or "") for k, v in row.items()
    ):
        return None, "a \\u escape is a lone surrogate, which is not valid Unicode text"
    return {k: json_value_as_text(v) for k, v in row.items() if k in INPUT_COLUMNS}, None


def _read_jsonl(path: Path, lines: Iterator[str | LongLine], quote) -> tuple[pl.DataFrame, pl.DataFrame]:
    """JSON lines are parsed one by one so that a bad line is rejected, not the whole file."""
    rows = _Rows()
    rejected: list[dict] = []
    log_date = log_date_of(path)
    for number, line in enumerate(lines, start=1):
        if isinstance(line, LongLine):
            raw = _unparsed(UNPARSED_JSON_LINE, line.start, line.length)
            rejected.append(_reject(log_date, path, number, raw, line.reason()))
            continue
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        row, problem = _json_line_problem(line, quote)
        if problem is None:
            rows.add(row, number)
        else:
            rejected.append(_reject(log_date, path, number, _unparsed(UNPARSED_JSON_LINE, line), problem))
    return rows.frame(), pl.DataFrame(rejected, schema=REJECTED_SCHEMA)


# Parquet ------------------------------------------------------------------------------------------


def _is_reader_panic(error: BaseException) -> bool:
    """A panic inside the (Rust) parquet reader: pyo3 raises it as PanicException, which derives
    from BaseException, not Exception, so it is recognised by name."""
    return type(error).__name__ == "PanicException"


def _read_parquet(path: Path, data: bytes) -> tuple[pl.DataFrame, pl.DataFrame]:
    try:
        frame = pl.read_parquet(io.BytesIO(data), row_index_name="source_row", row_index_offset=1)
    except Exception as exc:  # polars and pyarrow raise many types for broken files
        raise EventFileError(f"{path}: cannot be read as parquet: {type(exc).__name__}: {str(exc)[:300]}") from None
    except BaseException as exc:
        if not _is_reader_panic(exc):
            raise
        raise EventFileError(
            f"{path}: cannot be read as parquet: the file is damaged (truncated or overwritten data; the parquet "
            f"reader stopped with: {str(exc)[:300]})"
        ) from None
    try:
        return _conform(frame.with_columns(pl.col("source_row").cast(pl.Int64)), path)
    except EventFileError:
        raise
    except Exception as exc:
        raise EventFileError(
            f"{path}: columns cannot be read as text: {type(exc).__name__}: {str(exc)[:300]}"
        ) from None
    except BaseException as exc:
        if not _is_reader_panic(exc):
            raise
        raise EventFileError(
            f"{path}: columns cannot be read as text: the reader stopped with: {str(exc)[:300]}"
        ) from None


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
    CSV and JSONL files are streamed (hashed as they are read); a Parquet file is read whole.
    """
    quote = quote or _identity
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson", ".parquet"):
        raise EventFileError(f"{path}: unsupported file type {suffix!r} (use .csv, .jsonl or .parquet)")
    if path.is_symlink():
        raise EventFileError(f"{path}: a symbolic link; event files are read only as regular files")
    try:
        if suffix == ".parquet":
            data, fingerprint = read_stable_bytes(path)
            frame, pre_rejected = _read_parquet(path, data)
            del data
        else:
            stream = StreamedFile(path)
            if suffix == ".csv":
                frame, pre_rejected = _read_csv(path, stream.line_batches(), quote)
            else:
                frame, pre_rejected = _read_jsonl(path, stream.lines(), quote)
            fingerprint = stream.fingerprint()
    except OSError as exc:
        raise EventFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    return frame.with_columns(pl.lit(str(path)).alias("source_file")), pre_rejected, fingerprint
