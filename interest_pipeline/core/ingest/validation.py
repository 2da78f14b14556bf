"""Validating and normalising event rows: types, timestamps, limits, duplicates and counts per
log date.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from interest_pipeline.core.ingest.event_schema import (
    ACCEPTED_SCHEMA,
    CONTEXT_COLUMNS,
    COUNTS_SCHEMA,
    EVENT_TYPE_SYNONYMS,
    EVENT_TYPES,
    ID_COLUMNS,
    INPUT_COLUMNS,
    MAX_CONTEXT_CHARS,
    MAX_ID_CHARS,
    MAX_QUARANTINE_CHARS,
    REJECTED_SCHEMA,
    ValidatedEvents,
    ValidationRules,
)
from interest_pipeline.core.ingest.readers import (
    cut_marker,
    empty_raw,
    empty_rejected,
    quarantine_copy,
    read_event_file_checked,
)


def _parse_timestamp(column: pl.Expr) -> pl.Expr:
    """ISO 8601 with an offset (converted to UTC), naive ISO (taken as UTC), with or without
    seconds, a date alone (midnight UTC), or Unix seconds / milliseconds."""
    text = column.str.strip_chars().str.replace(r"[zZ]$", "+00:00").str.replace(" ", "T")
    with_offset = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_zone="UTC").dt.replace_time_zone(
        None
    )
    minutes_offset = text.str.to_datetime("%Y-%m-%dT%H:%M%:z", strict=False, time_zone="UTC").dt.replace_time_zone(None)
    naive = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False)
    minutes = text.str.to_datetime("%Y-%m-%dT%H:%M", strict=False)
    date_only = pl.when(text.str.contains(r"^\d{4}-\d{2}-\d{2}$")).then(
        text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us"))
    )
    digits = pl.when(text.str.contains(r"^\d{9,10}$")).then(text.cast(pl.Int64, strict=False) * 1_000_000)
    digits = (
        pl.when(text.str.contains(r"^\d{12,13}$")).then(text.cast(pl.Int64, strict=False) * 1_000).otherwise(digits)
    )
    epoch = digits.cast(pl.Datetime("us"))
    return pl.coalesce(with_offset, minutes_offset, naive, minutes, date_only, epoch)


def _normalise_event_type(column: pl.Expr) -> pl.Expr:
    cleaned = column.str.strip_chars().str.to_lowercase().str.replace_all(r"[\s\-]+", "_")
    return cleaned.replace(EVENT_TYPE_SYNONYMS)


def _blank(column: str) -> pl.Expr:
    return pl.col(column).is_null() | (pl.col(column).str.strip_chars() == "")


def _too_long(column: str, limit: int = MAX_ID_CHARS) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.len_chars() > limit


def _too_long_reason(column: str, limit: int = MAX_ID_CHARS) -> pl.Expr:
    return pl.format(
        f"{column} of {{}} characters is over the limit of {limit}",
        pl.col(column).str.strip_chars().str.len_chars(),
    )


# Input values that reasons quote; with masking on they are quoted masked.
QUOTED_COLUMNS = ("event_type", "timestamp", "rating", "event_id")


def _reason(value, rules: ValidationRules) -> pl.Expr:
    """The first failing rule of a row; ``value(column)`` is how an input value is quoted. The row's
    ``log_date`` column bounds its timestamp, so one frame may hold many log dates."""
    day_start = pl.col("log_date").cast(pl.Datetime("us"))
    earliest = day_start - rules.timestamp_tolerance
    latest = day_start + (dt.timedelta(days=1) + rules.timestamp_tolerance)
    rules_chain = pl.when(_blank("user_id")).then(pl.lit("missing user_id"))
    # Lengths first: nothing else is done with a value over its limit.
    limits = [(c, MAX_ID_CHARS) for c in ID_COLUMNS] + [(c, MAX_CONTEXT_CHARS) for c in CONTEXT_COLUMNS]
    for column, limit in limits:
        rules_chain = rules_chain.when(_too_long(column, limit)).then(_too_long_reason(column, limit))
    return (
        rules_chain.when(_blank("event_type"))
        .then(pl.lit("missing event_type"))
        .when(~pl.col("_event_type").is_in(EVENT_TYPES))
        .then(pl.format("unknown event type '{}'", value("event_type")))
        .when(_blank("timestamp"))
        .then(pl.lit("missing timestamp"))
        .when(pl.col("_event_ts").is_null())
        .then(pl.format("unparseable timestamp '{}'", value("timestamp")))
        .when((pl.col("_event_ts") < earliest) | (pl.col("_event_ts") >= latest))
        .then(
            pl.format(
                "timestamp {} (UTC) is outside the log date {} by more than the tolerance",
                pl.col("_event_ts"),
                pl.col("log_date").cast(pl.String),
            )
        )
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
        .then(
            pl.format(
                "text of {} characters is over the limit of {}",
                pl.col("text").str.len_chars(),
                pl.lit(rules.max_text_chars),
            )
        )
        .otherwise(None)
    )


# Longest input value a reason quotes whole; a longer one is quoted by its start and its length.
MAX_QUOTED_CHARS = 200


def _quote_cut(value: str | None, quote) -> str | None:
    """``value`` as a reason quotes it: masked by ``quote`` (only its start when it is long: masking
    a huge value would cost more than the row is worth), cut to MAX_QUOTED_CHARS with its length."""
    if value is None or len(value) <= MAX_QUOTED_CHARS:
        return value if quote is None or value is None else quote(value)
    start = value[: 4 * MAX_QUOTED_CHARS]
    return (start if quote is None else quote(start))[:MAX_QUOTED_CHARS] + cut_marker(len(value))


def _quoted_column(frame: pl.DataFrame, column: str, quote) -> pl.Expr:
    quote = None if column in ID_COLUMNS else quote
    if quote is None and not frame.select((pl.col(column).str.len_chars() > MAX_QUOTED_CHARS).any()).item():
        return pl.col(column).alias(f"_q_{column}")
    return pl.col(column).map_elements(lambda v: _quote_cut(v, quote), return_dtype=pl.String).alias(f"_q_{column}")


def _quoted(frame: pl.DataFrame, columns: tuple[str, ...], quote) -> pl.DataFrame:
    """Columns ``_q_<name>``: the values as reasons may quote them (only for the few rejected rows).
    Ids are quoted as read, as the quarantine copy keeps them; long values by their start."""
    return frame.with_columns(_quoted_column(frame, c, quote) for c in columns)


# The input columns of a row as JSON: what identifies its content (exact duplicates, content hash).
RAW_JSON = pl.struct(*INPUT_COLUMNS).struct.json_encode()


def quarantine_copies(frame: pl.DataFrame) -> pl.Series:
    """``raw_row`` of each row of ``frame``: its input columns as JSON, at most MAX_QUARANTINE_CHARS
    characters (see :func:`quarantine_copy`: long values are cut, with their length). Values are cut
    before they are written, so a huge one is never copied whole again."""
    if not frame.height:
        return pl.Series("raw_row", [], dtype=pl.String)
    longest = frame.select(pl.max_horizontal(pl.col(c).str.len_chars() for c in INPUT_COLUMNS).fill_null(0)).to_series()
    long_values = bool((longest > MAX_QUARANTINE_CHARS).any())
    starts = frame.select(pl.col(c).str.slice(0, MAX_QUARANTINE_CHARS) for c in INPUT_COLUMNS) if long_values else frame
    encoded = starts.select(RAW_JSON.alias("raw_row")).to_series()
    where = ((encoded.str.len_chars() > MAX_QUARANTINE_CHARS) | (longest > MAX_QUARANTINE_CHARS)).arg_true()
    if not where.len():
        return encoded
    lengths = frame[where].select(pl.col(c).str.len_chars() for c in INPUT_COLUMNS)
    fixed = [
        quarantine_copy(fields, {c: n for c, n in row_lengths.items() if n is not None and n > MAX_QUARANTINE_CHARS})
        for fields, row_lengths in zip(
            starts[where].select(INPUT_COLUMNS).iter_rows(named=True), lengths.iter_rows(named=True)
        )
    ]
    return encoded.scatter(where, pl.Series(fixed, dtype=pl.String))


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
    Rules, first failing one wins: user id present; ids within MAX_ID_CHARS; device and location
    within MAX_CONTEXT_CHARS (checked before anything else is done with them); event type known
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
    del parsed
    # Frames are filtered only where a row goes: a filter copies every column of every row.
    failing = checked["_reason"].is_not_null()

    invalid = _quoted(checked.filter(failing), QUOTED_COLUMNS, quote)
    invalid = invalid.select(
        "log_date",
        "source_file",
        "source_row",
        quarantine_copies(invalid).alias("raw_row"),
        _reason(lambda c: pl.col(f"_q_{c}"), rules).alias("reason"),
    )

    valid = _in_source_order(checked.filter(~failing) if failing.any() else checked)
    del checked
    first = valid.select(pl.struct("log_date", *INPUT_COLUMNS).is_first_distinct()).to_series()
    deduplicated = valid if first.all() else valid.filter(first)
    valid_dates, n_valid = valid.select("log_date"), valid.height
    del valid

    # Rows without an event id get a content hash, so exact duplicates share one id.
    content_hash = RAW_JSON.map_batches(
        lambda s: pl.Series([hashlib.sha1(v.encode("utf-8")).hexdigest()[:20] for v in s], dtype=pl.String),
        return_dtype=pl.String,
    )
    accepted = deduplicated.with_columns(
        pl.when(_blank("event_id"))
        .then(pl.lit("h") + content_hash)
        .otherwise(pl.col("event_id").str.strip_chars())
        .alias("event_id")
    )
    dedup_dates = deduplicated.select("log_date")
    del deduplicated
    reused_id = ~accepted.select(pl.struct("log_date", "event_id").is_first_distinct()).to_series()
    conflicting = accepted.filter(reused_id)
    id_conflicts = _quoted(conflicting, ("event_id",), quote).select(
        "log_date",
        "source_file",
        "source_row",
        quarantine_copies(conflicting).alias("raw_row"),
        pl.format("event_id '{}' is already used by another row with different content", pl.col("_q_event_id")).alias(
            "reason"
        ),
    )
    if reused_id.any():
        accepted = accepted.filter(~reused_id)
    accepted_raw = quarantine_copies(accepted)
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
    counts = _counts_per_date(
        log_dates, raw.select(pl.col("log_date").cast(pl.Date)), pre_rejected, valid_dates, dedup_dates
    )
    return ValidatedEvents(
        accepted=accepted.cast(ACCEPTED_SCHEMA),
        rejected=rejected,
        n_read=raw.height + pre_rejected.height,
        n_duplicates=n_valid - dedup_dates.height,
        accepted_raw=accepted_raw,
        counts=counts,
    )


def _in_source_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows by log date, file and row: as files are read they mostly are already, and then the
    frame is kept as it is rather than copied whole by a sort."""
    day, file, row = pl.col("log_date"), pl.col("source_file"), pl.col("source_row")
    same_day, same_file = day == day.shift(1), file == file.shift(1)
    before_previous = (
        (day < day.shift(1)) | (same_day & (file < file.shift(1))) | (same_day & same_file & (row < row.shift(1)))
    )
    if frame.height < 2 or not frame.select(before_previous.any()).item():
        return frame
    return frame.sort("log_date", "source_file", "source_row")


def _counts_per_date(log_dates, raw, pre_rejected, valid, deduplicated) -> pl.DataFrame:
    """Rows read (parsed or not) and duplicates dropped per log date, zero for dates without rows."""

    def per_date(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        return frame.group_by(pl.col("log_date").cast(pl.Date)).agg(pl.len().cast(pl.Int64).alias(name))

    dates = pl.DataFrame({"log_date": sorted(set(log_dates))}, schema={"log_date": pl.Date})
    for frame, name in ((raw, "parsed"), (pre_rejected, "unparsed"), (valid, "valid"), (deduplicated, "kept")):
        dates = dates.join(per_date(frame, name), on="log_date", how="left")
    zero = [pl.col(c).fill_null(0) for c in ("parsed", "unparsed", "valid", "kept")]
    return (
        dates.with_columns(zero)
        .select(
            "log_date",
            (pl.col("parsed") + pl.col("unparsed")).alias("read"),
            (pl.col("valid") - pl.col("kept")).alias("duplicates"),
        )
        .cast(COUNTS_SCHEMA)
    )


def reject_event_ids_used_elsewhere(result: ValidatedEvents, used: pl.DataFrame, quote=None) -> ValidatedEvents:
    """Move accepted rows whose event id is already held by another log date to the rejected rows.

    ``used`` has ``event_id`` and ``log_date``: ids stored before on dates outside ``result``.
    The first log date that holds an id keeps it: across runs the one stored first, within
    ``result`` (which may span many log dates) the earliest.
    """
    if not result.accepted.height:
        return result
    stored = used.select("event_id", pl.col("log_date").cast(pl.Date).alias("_stored_on")).unique(
        "event_id", keep="first"
    )
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
        pl.format("event_id '{}' is already used on log date {}", pl.col("_q_event_id"), pl.col("_used_on")).alias(
            "reason"
        ),
    )
    kept = marked.filter(~clash)
    return ValidatedEvents(
        accepted=kept.select(list(ACCEPTED_SCHEMA)),
        rejected=pl.concat([result.rejected, moved.cast(REJECTED_SCHEMA)]).sort(
            "log_date", "source_file", "source_row"
        ),
        n_read=result.n_read,
        n_duplicates=result.n_duplicates,
        accepted_raw=kept["raw_row"],
        fingerprints=result.fingerprints,
        counts=result.counts,
        rows_per_file=result.rows_per_file,
    )


def load_log_date(
    files: list[Path], log_date: dt.date, rules: ValidationRules = ValidationRules(), quote=None
) -> ValidatedEvents:
    """Read and validate every file of one log date together (duplicates may span files)."""
    return load_log_dates({log_date: files}, rules, quote)


def load_log_dates(
    files_by_date: Mapping[dt.date, Sequence[Path]], rules: ValidationRules = ValidationRules(), quote=None
) -> ValidatedEvents:
    """Read every file of every log date, then validate them all in one pass, each row by its
    file's log date (dates without files are counted with zero rows). Event ids shared by two of
    these dates are not resolved here: see :func:`reject_event_ids_used_elsewhere`."""
    # Per file only what must be per file: thousands of small frames make every extra frame
    # operation count (the log date column is added once, to all rows together).
    frames, row_dates, pre_rejected, fingerprints, rows_per_file = [], [], [], {}, {}
    for log_date, files in sorted(files_by_date.items()):
        for path in files:
            frame, bad, fingerprint = read_event_file_checked(path, quote)
            frames.append(frame)  # every reader gives the input columns, source_row, source_file in this order
            row_dates.append((log_date, frame.height))
            if bad.height:
                pre_rejected.append(bad.with_columns(pl.lit(log_date).alias("log_date")))
            fingerprints[str(path)] = fingerprint
            rows_per_file[str(path)] = frame.height + bad.height
    raw = (pl.concat(frames, how="vertical") if frames else empty_raw()).select(
        *INPUT_COLUMNS, "source_file", "source_row"
    )
    dates = pl.Series("log_date", [day for day, _ in row_dates], dtype=pl.Date).gather(
        pl.Series([k for k, (_, n) in enumerate(row_dates) for _ in range(n)], dtype=pl.UInt32)
    )
    raw = raw.with_columns(dates)
    bad = pl.concat(pre_rejected) if pre_rejected else empty_rejected()
    result = validate_log_dates(raw, list(files_by_date), rules, pre_rejected=bad, quote=quote)
    return ValidatedEvents(
        result.accepted,
        result.rejected,
        result.n_read,
        result.n_duplicates,
        result.accepted_raw,
        fingerprints,
        result.counts,
        rows_per_file,
    )
