"""The event log's columns, types and result records.

Every row read ends up in exactly one of three places: accepted, dropped as an exact
duplicate of an accepted row, or rejected with the file, row number, raw row and a reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

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


# Longest accepted device or location: short labels of where an event happened; a longer value is
# rejected before anything else is done with it (masking, storing).
MAX_CONTEXT_CHARS = 256


CONTEXT_COLUMNS: tuple[str, ...] = ("device", "location")


# Longest line (or CSV record over several lines) a reader holds: a longer one is quarantined as
# too long, with its first characters only, and the rest of it is skipped unread into memory.
MAX_LINE_CHARS = 4_000_000


# Longest quarantine copy (raw_row) of a rejected row: a longer input is cut, with a marker
# saying how long it was. Memory and storage follow the rows, not the bytes of garbage.
MAX_QUARANTINE_CHARS = 4_000


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
    # Per file read (its path as a string): the rows it held, parsed or not (0 for an empty file).
    rows_per_file: dict = field(default_factory=dict)

    @property
    def n_accepted(self) -> int:
        return self.accepted.height

    @property
    def n_rejected(self) -> int:
        return self.rejected.height
