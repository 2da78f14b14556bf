"""Reading, validating and normalising raw behaviour-log files.

Every row read ends up in exactly one of three places: accepted, dropped as an exact
duplicate of an accepted row, or rejected with the file, row number, raw row and a reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

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

EVENT_FILE_PATTERN = re.compile(r"(\d{4}-\d{2}-\d{2}).*\.(csv|jsonl|ndjson|parquet)$", re.IGNORECASE)

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


def find_event_files(events_dir: Path, log_date: dt.date) -> list[Path]:
    if not events_dir.is_dir():
        return []
    return sorted(p for p in events_dir.iterdir() if p.is_file() and log_date_of(p) == log_date)


def _empty_raw() -> pl.DataFrame:
    return pl.DataFrame(
        schema={**{c: pl.String() for c in INPUT_COLUMNS}, "source_file": pl.String(), "source_row": pl.Int64()}
    )


def empty_rejected() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECTED_SCHEMA)


def _conform(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Keep the known columns as strings, add missing optional ones as nulls."""
    frame = frame.rename({c: c.strip().lower() for c in frame.columns})
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise EventFileError(f"{path}: missing required column(s) {', '.join(missing)}; found {frame.columns}")
    columns = [
        (pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, dtype=pl.String)).alias(c)
        for c in INPUT_COLUMNS
    ]
    return frame.select(*columns, pl.col("source_row"))


def _read_jsonl(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """JSON lines are parsed one by one so that a bad line is rejected, not the whole file."""
    records: list[dict] = []
    rejected: list[dict] = []
    log_date = log_date_of(path)
    with path.open("rb") as handle:
        for line_number, raw_line in enumerate(handle, start=1):
            if not raw_line.strip():
                continue
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as exc:
                rejected.append(_reject(log_date, path, line_number, repr(raw_line), f"text is not valid UTF-8 ({exc.reason})"))
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                rejected.append(_reject(log_date, path, line_number, line.rstrip("\n"), f"invalid JSON: {exc.msg}"))
                continue
            if not isinstance(record, dict):
                rejected.append(_reject(log_date, path, line_number, line.rstrip("\n"), "a line must hold a JSON object"))
                continue
            row = {k.strip().lower(): (None if v is None else v if isinstance(v, str) else json.dumps(v)) for k, v in record.items()}
            row["source_row"] = line_number
            records.append(row)
    if records:
        keys = sorted({k for r in records for k in r} - {"source_row"})
        frame = pl.DataFrame(records, schema={**{k: pl.String() for k in keys}, "source_row": pl.Int64()})
    else:
        frame = _empty_raw()
    return frame, pl.DataFrame(rejected, schema=REJECTED_SCHEMA)


def _reject(log_date, path: Path, row: int, raw: str, reason: str) -> dict:
    return {"log_date": log_date, "source_file": str(path), "source_row": row, "raw_row": raw, "reason": reason}


def read_event_file(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read one event file as strings.

    Returns the rows (all input columns as strings, plus ``source_file`` and ``source_row``:
    the line number for CSV and JSONL, counting the header, or the 1-based row for Parquet)
    and the rows that could not even be parsed, already with their reason.
    Raises :class:`EventFileError` if the file as a whole is unreadable.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pl.read_csv(path, infer_schema=False, row_index_name="source_row", row_index_offset=2)
            pre_rejected = empty_rejected()
        elif suffix in (".jsonl", ".ndjson"):
            frame, pre_rejected = _read_jsonl(path)
        elif suffix == ".parquet":
            frame = pl.read_parquet(path, row_index_name="source_row", row_index_offset=1)
            pre_rejected = empty_rejected()
        else:
            raise EventFileError(f"{path}: unsupported file type {suffix!r} (use .csv, .jsonl or .parquet)")
    except EventFileError:
        raise
    except Exception as exc:  # polars and pyarrow raise many types for broken files
        raise EventFileError(f"{path}: cannot be read as {suffix.lstrip('.')}: {exc}") from exc
    frame = _conform(frame.with_columns(pl.col("source_row").cast(pl.Int64)), path)
    return frame.with_columns(pl.lit(str(path)).alias("source_file")), pre_rejected


def _parse_timestamp(column: pl.Expr) -> pl.Expr:
    """ISO 8601 with an offset (converted to UTC), naive ISO (taken as UTC), or Unix s/ms."""
    text = column.str.strip_chars().str.replace(r"[zZ]$", "+00:00").str.replace(" ", "T")
    with_offset = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_zone="UTC").dt.replace_time_zone(None)
    naive = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False)
    digits = pl.when(text.str.contains(r"^\d{9,10}$")).then(text.cast(pl.Int64, strict=False) * 1_000_000)
    digits = pl.when(text.str.contains(r"^\d{12,13}$")).then(text.cast(pl.Int64, strict=False) * 1_000).otherwise(digits)
    epoch = digits.cast(pl.Datetime("us"))
    return pl.coalesce(with_offset, naive, epoch)


def _normalise_event_type(column: pl.Expr) -> pl.Expr:
    cleaned = column.str.strip_chars().str.to_lowercase().str.replace_all(r"[\s\-]+", "_")
    return cleaned.replace(EVENT_TYPE_SYNONYMS)


def _blank(column: str) -> pl.Expr:
    return pl.col(column).is_null() | (pl.col(column).str.strip_chars() == "")


def _too_long(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.len_chars() > MAX_ID_CHARS


def _too_long_reason(column: str) -> pl.Expr:
    return pl.format(f"{column} of {{}} characters is over the limit of {MAX_ID_CHARS}", pl.col(column).str.strip_chars().str.len_chars())


def validate_events(
    raw: pl.DataFrame,
    log_date: dt.date,
    rules: ValidationRules = ValidationRules(),
    pre_rejected: pl.DataFrame | None = None,
) -> ValidatedEvents:
    """Validate and normalise the raw rows of one log date.

    ``raw`` holds the input columns as strings plus ``source_file`` and ``source_row``.
    Rules, first failing one wins: user id present; event type known (after lower-casing
    and synonyms); timestamp present and parseable; timestamp within the tolerance of the
    log date; item id present for every type but search; rating numeric in 1..5 (required
    for rate); search has a query; text within the size limit. Exact duplicate rows are
    dropped (kept once); a reused event id with other content is rejected.
    """
    pre_rejected = empty_rejected() if pre_rejected is None else pre_rejected
    n_read = raw.height + pre_rejected.height
    day_start = dt.datetime.combine(log_date, dt.time())
    earliest = day_start - rules.timestamp_tolerance
    latest = day_start + dt.timedelta(days=1) + rules.timestamp_tolerance

    parsed = raw.with_columns(
        _normalise_event_type(pl.col("event_type")).alias("_event_type"),
        _parse_timestamp(pl.col("timestamp")).alias("_event_ts"),
        pl.col("rating").str.strip_chars().cast(pl.Float64, strict=False).alias("_rating"),
    )
    reason = (
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
        .then(pl.format("unknown event type '{}'", pl.col("event_type")))
        .when(_blank("timestamp"))
        .then(pl.lit("missing timestamp"))
        .when(pl.col("_event_ts").is_null())
        .then(pl.format("unparseable timestamp '{}'", pl.col("timestamp")))
        .when((pl.col("_event_ts") < earliest) | (pl.col("_event_ts") >= latest))
        .then(pl.format("timestamp {} (UTC) is outside the log date {} by more than the tolerance", pl.col("_event_ts"), pl.lit(str(log_date))))
        .when(_blank("item_id") & (pl.col("_event_type") != "search"))
        .then(pl.format("missing item_id for a {} event", pl.col("_event_type")))
        .when(~_blank("rating") & pl.col("_rating").is_null())
        .then(pl.format("rating '{}' is not a number", pl.col("rating")))
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
    checked = parsed.with_columns(reason.alias("_reason"))

    raw_json = pl.struct(*INPUT_COLUMNS).struct.json_encode()
    invalid = checked.filter(pl.col("_reason").is_not_null()).select(
        pl.lit(log_date).alias("log_date"),
        "source_file",
        "source_row",
        raw_json.alias("raw_row"),
        pl.col("_reason").alias("reason"),
    )

    valid = checked.filter(pl.col("_reason").is_null()).sort("source_file", "source_row")
    deduplicated = valid.unique(subset=list(INPUT_COLUMNS), keep="first", maintain_order=True)
    n_duplicates = valid.height - deduplicated.height

    # Rows without an event id get a content hash, so exact duplicates share one id.
    content_hash = raw_json.map_batches(
        lambda s: pl.Series([hashlib.sha1(v.encode("utf-8")).hexdigest()[:20] for v in s], dtype=pl.String),
        return_dtype=pl.String,
    )
    accepted = deduplicated.with_columns(
        pl.when(_blank("event_id")).then(pl.lit("h") + content_hash).otherwise(pl.col("event_id").str.strip_chars()).alias("event_id")
    )
    reused_id = ~pl.col("event_id").is_first_distinct()
    id_conflicts = accepted.filter(reused_id).select(
        pl.lit(log_date).alias("log_date"),
        "source_file",
        "source_row",
        raw_json.alias("raw_row"),
        pl.format("event_id '{}' is already used by another row with different content", pl.col("event_id")).alias("reason"),
    )
    accepted = accepted.filter(~reused_id).select(
        pl.lit(log_date).alias("log_date"),
        "event_id",
        pl.col("user_id").str.strip_chars(),
        pl.when(_blank("item_id")).then(None).otherwise(pl.col("item_id").str.strip_chars()).alias("item_id"),
        pl.col("_event_type").alias("event_type"),
        pl.col("_event_ts").alias("event_ts"),
        pl.col("device").str.strip_chars().str.to_lowercase(),
        pl.col("location").str.strip_chars(),
        pl.col("_rating").alias("rating"),
        pl.when(_blank("text")).then(None).otherwise(pl.col("text")).alias("text"),
        "source_file",
        "source_row",
    )
    rejected = pl.concat(
        [pre_rejected.cast(REJECTED_SCHEMA), invalid.cast(REJECTED_SCHEMA), id_conflicts.cast(REJECTED_SCHEMA)]
    ).sort("source_file", "source_row")
    return ValidatedEvents(
        accepted=accepted.cast(ACCEPTED_SCHEMA),
        rejected=rejected,
        n_read=n_read,
        n_duplicates=n_duplicates,
    )


def load_log_date(files: list[Path], log_date: dt.date, rules: ValidationRules = ValidationRules()) -> ValidatedEvents:
    """Read and validate every file of one log date together (duplicates may span files)."""
    frames, pre_rejected = [], []
    for path in files:
        frame, bad = read_event_file(path)
        frames.append(frame)
        pre_rejected.append(bad)
    raw = pl.concat(frames, how="vertical") if frames else _empty_raw().with_columns(pl.lit(None, pl.String).alias("source_file"))
    raw = raw.select(*INPUT_COLUMNS, "source_file", "source_row")
    bad = pl.concat(pre_rejected) if pre_rejected else empty_rejected()
    return validate_events(raw, log_date, rules, pre_rejected=bad.with_columns(pl.lit(log_date).alias("log_date")))
