"""Shared pieces of the data-set adapters: reading input lines, rejects, and the frame shapes.

Every adapter returns a :class:`Conversion`: the mapped events (timestamps still as
datetimes, UTC), the mapped items, and the input that could not be mapped at all. Input is
read line by line (``.gz`` transparently) so that a bad line costs one reject with its line
number rather than the whole file; mapping is done in polars on chunks of rows.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

# The product's event columns (README, "Inputs"); ``timestamp`` is a UTC datetime until written.
EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "user_id",
    "item_id",
    "event_type",
    "timestamp",
    "device",
    "location",
    "rating",
    "text",
)
EVENT_SCHEMA: dict[str, pl.DataType] = {c: pl.String() for c in EVENT_COLUMNS} | {"timestamp": pl.Datetime("ms")}

REJECT_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "line": pl.Int64(),
    "raw_line": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
}

# Rows are mapped in chunks so that a large input never sits in memory as Python objects.
CHUNK_ROWS = 200_000


class ImportInputError(ValueError):
    """An input file that cannot be imported at all; the message names the file."""


@dataclass
class Rejects:
    """Input (whole lines or parts of lines) that could not be mapped to events or items."""

    rows: list[dict] = field(default_factory=list)
    frames: list[pl.DataFrame] = field(default_factory=list)

    def add(self, path: Path, line: int, raw: str, reason: str, detail: str = "") -> None:
        self.rows.append({"source_file": str(path), "line": line, "raw_line": raw, "reason": reason, "detail": detail})

    def add_frame(self, frame: pl.DataFrame) -> None:
        if frame.height:
            self.frames.append(frame.select(list(REJECT_SCHEMA)).cast(REJECT_SCHEMA))

    def frame(self) -> pl.DataFrame:
        parts = [pl.DataFrame(self.rows, schema=REJECT_SCHEMA)] + self.frames
        return pl.concat(parts).sort("source_file", "line", "detail", "reason", "raw_line", maintain_order=True)


@dataclass
class Conversion:
    """What one adapter made of its input files."""

    events: pl.DataFrame  # EVENT_SCHEMA
    items: pl.DataFrame  # item_id, title, description, other columns as strings
    rejects: pl.DataFrame  # REJECT_SCHEMA
    rows_read: dict[str, int]  # data rows per input file (headers and blank lines not counted)
    file_kinds: dict[str, str]  # what each input file was recognised as
    item_rows_merged: int = 0  # exact duplicate catalogue rows written once

    @classmethod
    def assemble(
        cls,
        event_frames: list[pl.DataFrame],
        item_frames: list[pl.DataFrame],
        rejects: Rejects,
        rows_read: dict[str, int],
        file_kinds: dict[str, str],
    ) -> Conversion:
        """The adapters' common last step: concatenate events, merge catalogue rows."""
        items, merged = merge_items(item_frames)
        return cls(
            events=concat_events(event_frames),
            items=items,
            rejects=rejects.frame(),
            rows_read=rows_read,
            file_kinds=file_kinds,
            item_rows_merged=merged,
        )


# How an adapter tells a file's kind (None: nothing recognisable in it) and reads its rows in chunks.
SniffKind = Callable[[Path], "str | None"]
ReadRows = Callable[[Path, str, Rejects, dict[str, int]], Iterator[pl.DataFrame]]


@dataclass
class InputFiles:
    """What every adapter does with its input files: recognise each file's kind, read its rows in
    chunks, count them and keep what cannot be mapped; the adapter maps the chunks."""

    rejects: Rejects = field(default_factory=Rejects)
    kinds: dict[str, str] = field(default_factory=dict)
    rows_read: dict[str, int] = field(default_factory=dict)

    def chunks(
        self, paths: list[Path], sniff: SniffKind, read: ReadRows, unrecognised: Callable[[Path], None] | None = None
    ) -> Iterator[tuple[str, pl.DataFrame]]:
        """``(kind, rows)`` for every chunk of every recognised file; ``unrecognised`` is called
        for a file of no known kind (which is otherwise skipped as empty)."""
        for path in paths:
            kind = sniff(path)
            self.kinds[str(path)] = kind or "empty"
            self.rows_read.setdefault(str(path), 0)
            if kind is None:
                if unrecognised is not None:
                    unrecognised(path)
                continue
            for chunk in read(path, kind, self.rejects, self.rows_read):
                yield kind, chunk

    def conversion(self, event_frames: list[pl.DataFrame], item_frames: list[pl.DataFrame]) -> Conversion:
        return Conversion.assemble(event_frames, item_frames, self.rejects, self.rows_read, self.kinds)


def iter_lines(path: Path) -> Iterator[tuple[int, str | None, bytes]]:
    """Yield ``(line_number, text, raw_bytes)`` per line, without the line ending.

    ``text`` is None when the line is not valid UTF-8. Files ending in ``.gz`` are
    decompressed on the fly. A missing, unreadable or truncated file raises
    :class:`ImportInputError` naming it.
    """
    if not path.exists():
        raise ImportInputError(f"{path}: file not found")
    if not path.is_file():
        raise ImportInputError(f"{path}: not a regular file")
    compressed = path.name.lower().endswith(".gz")
    try:
        handle = gzip.open(path, "rb") if compressed else path.open("rb")
        with handle:
            for number, raw in enumerate(handle, start=1):
                raw = raw.rstrip(b"\r\n")
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = None
                yield number, text, raw
    except EOFError as exc:
        raise ImportInputError(f"{path}: truncated gzip file ({exc})") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise ImportInputError(f"{path}: not a valid gzip file ({exc})") from exc
    except OSError as exc:
        raise ImportInputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def raw_text(text: str | None, raw: bytes) -> str:
    """The line as stored in the rejects file: the text, or a escaped form of undecodable bytes."""
    return text if text is not None else raw.decode("utf-8", errors="backslashreplace")


def prefixed(column: str | pl.Expr, prefix: str) -> pl.Expr:
    """``prefix + value``; an empty or missing value stays empty so that validation still sees it missing."""
    expr = pl.col(column) if isinstance(column, str) else column
    value = expr.cast(pl.String).str.strip_chars()
    return pl.when(value.is_null() | (value == "")).then(pl.lit("")).otherwise(pl.lit(prefix) + value)


def short_hash(column: pl.Expr) -> pl.Expr:
    """A stable 10-character digest of a text (polars' own hash is not stable across versions)."""
    return column.fill_null("").map_batches(
        lambda s: pl.Series([hashlib.sha1(v.encode("utf-8")).hexdigest()[:10] for v in s], dtype=pl.String),
        return_dtype=pl.String,
    )


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_SCHEMA)


def conform_events(frame: pl.DataFrame) -> pl.DataFrame:
    """The event columns in the product's order; absent ones as nulls."""
    columns = [pl.col(c) if c in frame.columns else pl.lit(None, dtype=EVENT_SCHEMA[c]).alias(c) for c in EVENT_COLUMNS]
    return frame.select(columns).cast(EVENT_SCHEMA)


def concat_events(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [conform_events(f) for f in frames if f.height]
    return pl.concat(frames) if frames else empty_events()


def merge_items(frames: list[pl.DataFrame]) -> tuple[pl.DataFrame, int]:
    """All item rows in input order with exact duplicates written once; returns the count merged.

    Rows that share an id but differ are all kept: the product's catalogue validation keeps
    the first and rejects the others with a reason, so nothing disappears silently.
    """
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema={"item_id": pl.String(), "title": pl.String(), "description": pl.String()}), 0
    items = pl.concat(frames, how="diagonal_relaxed")
    merged = items.unique(maintain_order=True)
    return merged, items.height - merged.height


class ChunkBuffer:
    """Collects parsed rows column-wise and hands them out as polars frames of bounded size."""

    def __init__(self, schema: dict[str, pl.DataType], chunk_rows: int = CHUNK_ROWS):
        self.schema = schema
        self.chunk_rows = chunk_rows
        self.columns: dict[str, list] = {c: [] for c in schema}

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def append(self, values: dict) -> None:
        for name, column in self.columns.items():
            column.append(values.get(name))

    def full(self) -> bool:
        return len(self) >= self.chunk_rows

    def take(self) -> pl.DataFrame:
        frame = pl.DataFrame(self.columns, schema=self.schema)
        self.columns = {c: [] for c in self.schema}
        return frame
