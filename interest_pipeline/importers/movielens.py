"""MovieLens (GroupLens; ml-latest-small, ml-25m and alike): ratings, tags and movies to events and items.

Which file is which is told by its CSV header:

- ``userId,movieId,rating,timestamp`` (ratings): a ``rate`` event at ``timestamp`` (Unix
  seconds, UTC). MovieLens ratings are 0.5 to 5.0 in half stars, the product's are 1 to 5:
  the rating is rounded half up to a whole star (0.5 and 1.0 -> 1, 1.5 -> 2, ..., 4.5 and
  5.0 -> 5), so a half star always counts as the next whole one and only the 0.5 step is
  lost; the original value is not kept. A value that is not a number is written as given,
  and one outside 0.5..5.0 rounds to a value outside 1..5, so that validation rejects both
  with a reason. Event id ``ml-rate-{userId}-{movieId}-{timestamp}``.
- ``userId,movieId,tag,timestamp`` (tags): a tag is free text a user attached to a movie, so
  it becomes a ``review`` event with ``text`` = the tag and no rating. Event id
  ``ml-tag-{userId}-{movieId}-{timestamp}-{digest of the tag}`` (one user may add several
  tags to a movie in the same second).
- ``movieId,title,genres`` (movies): one item. Genres are a set, not a path, so they are not
  turned into a ``category_path``: ``category`` is the first genre, ``genres`` keeps the
  publisher's ``|``-separated list, and ``description`` reads "Genres: Comedy, Drama".
  ``(no genres listed)`` means none: all three are empty.

User and item ids are prefixed ``ml:`` (``ml:1``). Rows without a usable timestamp, rows
with the wrong number of fields and undecodable lines go to the import rejects; other gaps
(no user, no movie) are written and left to the product's validation to reject.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from interest_pipeline.importers.common import (
    ChunkBuffer,
    Conversion,
    ImportInputError,
    InputFiles,
    Rejects,
    iter_lines,
    prefixed,
    raw_text,
    short_hash,
)

PREFIX = "ml:"
NO_GENRES = "(no genres listed)"

HEADERS: dict[tuple[str, ...], str] = {
    ("userid", "movieid", "rating", "timestamp"): "ratings",
    ("userid", "movieid", "tag", "timestamp"): "tags",
    ("movieid", "title", "genres"): "movies",
}
FIELDS_BY_KIND = {kind: header for header, kind in HEADERS.items()}

ROW_COLUMNS = {"source_file": pl.String(), "line": pl.Int64()}


def _timestamp() -> pl.Expr:
    return pl.from_epoch(pl.col("timestamp").str.strip_chars().cast(pl.Int64, strict=False), time_unit="s").cast(
        pl.Datetime("ms")
    )


def star_rating(column: pl.Expr) -> pl.Expr:
    """Half stars rounded half up to whole stars; text that is not a finite number is kept as given."""
    value = column.str.strip_chars().cast(pl.Float64, strict=False)
    rounded = (value + 0.5).floor().cast(pl.Int64, strict=False).cast(pl.String)
    return pl.when(value.is_not_null() & value.is_finite()).then(rounded).otherwise(column)


def split_undated(raw: pl.DataFrame, kind: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows with a Unix-seconds timestamp, and the others as rejects (no day to file them under)."""
    checked = raw.with_columns(_timestamp().alias("ts"))
    fields = FIELDS_BY_KIND[kind]
    bad = checked.filter(pl.col("ts").is_null()).select(
        "source_file",
        "line",
        pl.col("raw_line"),
        pl.lit("missing or unparseable timestamp").alias("reason"),
        pl.format("timestamp '{}' is not Unix seconds", pl.col(fields[-1]).fill_null("")).alias("detail"),
    )
    return checked.filter(pl.col("ts").is_not_null()), bad


def rating_events(rows: pl.DataFrame) -> pl.DataFrame:
    ids = [pl.col(c).fill_null("").str.strip_chars() for c in ("userid", "movieid", "timestamp")]
    return rows.select(
        pl.format("ml-rate-{}-{}-{}", *ids).alias("event_id"),
        prefixed("userid", PREFIX).alias("user_id"),
        prefixed("movieid", PREFIX).alias("item_id"),
        pl.lit("rate").alias("event_type"),
        pl.col("ts").alias("timestamp"),
        star_rating(pl.col("rating")).alias("rating"),
    )


def tag_events(rows: pl.DataFrame) -> pl.DataFrame:
    ids = [pl.col(c).fill_null("").str.strip_chars() for c in ("userid", "movieid", "timestamp")]
    return rows.select(
        pl.format("ml-tag-{}-{}-{}-{}", *ids, short_hash(pl.col("tag"))).alias("event_id"),
        prefixed("userid", PREFIX).alias("user_id"),
        prefixed("movieid", PREFIX).alias("item_id"),
        pl.lit("review").alias("event_type"),
        pl.col("ts").alias("timestamp"),
        pl.col("tag").alias("text"),
    )


def movie_items(rows: pl.DataFrame) -> pl.DataFrame:
    genres = pl.col("genres").fill_null("").str.strip_chars()
    genres = pl.when(genres == NO_GENRES).then(pl.lit("")).otherwise(genres)
    genre_list = genres.str.split("|").list.eval(
        pl.element().str.strip_chars().filter(pl.element().str.strip_chars() != "")
    )
    return rows.select(
        prefixed("movieid", PREFIX).alias("item_id"),
        pl.col("title").fill_null("").str.strip_chars().alias("title"),
        pl.when(genre_list.list.len() > 0)
        .then(pl.lit("Genres: ") + genre_list.list.join(", "))
        .otherwise(pl.lit(""))
        .alias("description"),
        genre_list.list.first().fill_null("").alias("category"),
        genre_list.list.join("|").alias("genres"),
    )


def _header_kind(path: Path) -> str | None:
    for _, text, raw in iter_lines(path):
        if not raw:
            continue
        header = tuple(c.strip().strip('"').lower() for c in (text or "").lstrip("\ufeff").split(","))
        if header not in HEADERS:
            expected = "; ".join(",".join(h) for h in HEADERS)
            raise ImportInputError(
                f"{path}: not a MovieLens ratings, tags or movies file: header {text!r}; expected one of: {expected}"
            )
        return HEADERS[header]
    return None


# A quoted field may span lines; a record longer than this is taken as a stray quote.
MAX_RECORD_LINES = 20


def quote_open(text: str) -> bool:
    """Whether a quoted field is still open at the end of ``text`` (RFC 4180 quoting).

    A quote only opens a field at its start, so a stray quote inside an unquoted field (which
    the csv module keeps as text) does not swallow the following lines.
    """
    quoted = False
    field_start = True
    i = 0
    while i < len(text):
        char = text[i]
        if quoted:
            if char == '"':
                if i + 1 < len(text) and text[i + 1] == '"':
                    i += 1
                else:
                    quoted = False
        elif char == '"' and field_start:
            quoted = True
        field_start = not quoted and char == ","
        i += 1
    return quoted


def split_record(text: str) -> list[str]:
    if '"' not in text:
        return text.split(",")
    return next(csv.reader([text], strict=False), [])


def read_rows(path: Path, kind: str, rejects: Rejects, rows_read: dict[str, int]):
    """Yield frames of raw rows (strings, plus file, line and the raw line); bad lines go to ``rejects``.

    Quoted fields may hold commas, quotes and line breaks; ``line`` is where a row starts,
    the header being line 1.
    """
    fields = FIELDS_BY_KIND[kind]
    buffer = ChunkBuffer({**{f: pl.String() for f in fields}, **ROW_COLUMNS, "raw_line": pl.String()})
    n_rows = n_good = 0
    pending: list[str] = []  # physical lines of a record whose quoted field is still open
    start = 0
    lines = iter_lines(path)
    for _, _, raw in lines:
        if raw:
            break  # the header, already checked
    for number, text, raw in lines:
        if text is None:
            n_rows += 1
            rejects.add(path, number, raw_text(text, raw), "invalid UTF-8")
            continue
        if not pending:
            if not raw:
                continue
            start = number
        pending.append(text)
        record = "\n".join(pending)
        if '"' in record and quote_open(record):
            if len(pending) < MAX_RECORD_LINES:
                continue
            n_rows += 1
            rejects.add(
                path, start, record, "unterminated quoted field", f"no closing quote within {MAX_RECORD_LINES} lines"
            )
            pending = []
            continue
        pending = []
        n_rows += 1
        values = split_record(record)
        if len(values) != len(fields):
            rejects.add(
                path,
                start,
                record,
                "wrong number of fields",
                f"expected {len(fields)} comma-separated fields, found {len(values)}",
            )
            continue
        n_good += 1
        buffer.append({**dict(zip(fields, values)), "source_file": str(path), "line": start, "raw_line": record})
        if buffer.full():
            yield buffer.take()
    if pending:
        n_rows += 1
        rejects.add(path, start, "\n".join(pending), "unterminated quoted field", "the file ends inside a quoted field")
    if len(buffer):
        yield buffer.take()
    if n_rows and not n_good:
        raise ImportInputError(
            f"{path}: no row has the {len(fields)} fields of a MovieLens {kind} file ({','.join(fields)})"
        )
    rows_read[str(path)] = rows_read.get(str(path), 0) + n_rows


def convert(paths: list[Path]) -> Conversion:
    """Map MovieLens ratings, tags and movies files (``.gz`` accepted)."""
    inputs = InputFiles()
    event_frames, item_frames = [], []
    for kind, chunk in inputs.chunks(paths, _header_kind, read_rows):
        if kind == "movies":
            item_frames.append(movie_items(chunk))
            continue
        rows, undated = split_undated(chunk, kind)
        inputs.rejects.add_frame(undated)
        event_frames.append(rating_events(rows) if kind == "ratings" else tag_events(rows))
    return inputs.conversion(event_frames, item_frames)
