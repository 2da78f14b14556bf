"""MIND (Microsoft News Dataset): ``behaviors.tsv`` and ``news.tsv`` to events and items.

Both files are tab-separated without a header and without quoting, so a quote inside a
title is plain text and a tab inside a text field makes the line unreadable (rejected).
Which file is which is told by its number of fields: 5 for behaviours, 8 for news.

Behaviours (impression id, user id, time, history, impressions):

- each impression token ``NEWSID-1`` becomes a ``click`` and ``NEWSID-0`` a ``view`` at the
  impression time, with event id ``mind-{impression_id}-{position}`` (position counted from 1
  in the impression list); a token without a ``-0``/``-1`` label goes to the import rejects;
- the time (``11/11/2019 9:05:58 AM``: month/day/year, 12-hour clock) carries no zone; it is
  taken as UTC;
- the history lists news the user clicked before the data window, without times. Each
  history item becomes one ``click`` per user (deduplicated over all impression rows and all
  behaviour files of the import), event id ``mind-hist-{user}-{news}``, dated one second before
  the earliest impression of the whole import: the history is older than every impression, so
  it lies before the whole log and never after a hold-out cutoff or a user's split (dating it
  just before the user's own first impression put it, for users first seen late, among the
  test events). All history lands in the file of that day. Rows without a user id keep their
  history per impression row (``mind-hist-@{impression_id}-{news}``) and are rejected by
  validation for the missing user.

News (id, category, subcategory, title, abstract, url, title entities, abstract entities)
becomes items with ``description`` = abstract, ``category``, ``subcategory``,
``category_path`` = ``category/subcategory`` and ``url``; the entity columns are dropped.

User and item ids are prefixed ``mind:`` (``mind:U13740``, ``mind:N55189``).
"""

from __future__ import annotations

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
)

PREFIX = "mind:"
TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"

BEHAVIOR_FIELDS = ("impression_id", "user_id", "time", "history", "impressions")
NEWS_FIELDS = ("news_id", "category", "subcategory", "title", "abstract", "url", "title_entities", "abstract_entities")
KIND_BY_WIDTH = {len(BEHAVIOR_FIELDS): "behaviors", len(NEWS_FIELDS): "news"}
FIELDS_BY_KIND = {"behaviors": BEHAVIOR_FIELDS, "news": NEWS_FIELDS}

# How many lines are looked at to tell the kind of a file.
SNIFF_LINES = 1000

ROW_COLUMNS = {"source_file": pl.String(), "line": pl.Int64()}


def _raw_line() -> pl.Expr:
    """The behaviour line as read (its five fields joined by tabs again)."""
    return pl.concat_str([pl.col(c).fill_null("") for c in BEHAVIOR_FIELDS], separator="\t").alias("raw_line")


def _user_key() -> pl.Expr:
    """Whose history this is: the user, or the impression row itself when the user id is empty."""
    user = pl.col("user_id").fill_null("").str.strip_chars()
    return (
        pl.when(user == "").then(pl.lit("@") + pl.col("impression_id").fill_null("").str.strip_chars()).otherwise(user)
    )


def parse_behaviors(raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split raw behaviour rows into rows with a parsed time (``ts``) and rejected rows."""
    parsed = raw.with_columns(
        pl.col("time").str.strip_chars().str.to_datetime(TIME_FORMAT, strict=False, time_unit="ms").alias("ts")
    )
    bad = parsed.filter(pl.col("ts").is_null()).select(
        "source_file",
        "line",
        _raw_line(),
        pl.lit("unparseable time").alias("reason"),
        pl.format("time '{}' is not month/day/year h:mm:ss AM/PM", pl.col("time").fill_null("")).alias("detail"),
    )
    return parsed.filter(pl.col("ts").is_not_null()), bad


def impression_events(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One click or view per labelled impression token; unlabelled tokens as rejects."""
    tokens = (
        rows.with_columns(
            pl.col("impressions")
            .fill_null("")
            .str.split(" ")
            .list.eval(pl.element().filter(pl.element() != ""))
            .alias("token")
        )
        .with_columns(pl.int_ranges(1, pl.col("token").list.len() + 1).alias("position"))
        .explode("token", "position")
        .filter(pl.col("token").is_not_null())
        .with_columns(
            pl.col("token").str.extract(r"^(.+)-([01])$", 1).alias("news_id"),
            pl.col("token").str.extract(r"^(.+)-([01])$", 2).alias("label"),
        )
    )
    events = tokens.filter(pl.col("news_id").is_not_null()).select(
        pl.format("mind-{}-{}", pl.col("impression_id").str.strip_chars(), pl.col("position")).alias("event_id"),
        prefixed("user_id", PREFIX).alias("user_id"),
        prefixed("news_id", PREFIX).alias("item_id"),
        pl.when(pl.col("label") == "1").then(pl.lit("click")).otherwise(pl.lit("view")).alias("event_type"),
        pl.col("ts").alias("timestamp"),
    )
    rejects = tokens.filter(pl.col("news_id").is_null()).select(
        "source_file",
        "line",
        _raw_line(),
        pl.lit("impression token without -0/-1 label").alias("reason"),
        pl.format("token '{}' at position {}", pl.col("token"), pl.col("position")).alias("detail"),
    )
    return events, rejects


def history_pairs(rows: pl.DataFrame) -> pl.DataFrame:
    """Distinct (user key, news id) pairs of the history column."""
    return (
        rows.select(
            _user_key().alias("user_key"),
            pl.col("user_id").fill_null("").str.strip_chars(),
            pl.col("impression_id").fill_null("").str.strip_chars(),
            pl.col("history").fill_null("").str.split(" ").alias("news_id"),
        )
        .explode("news_id")
        .filter(pl.col("news_id").is_not_null() & (pl.col("news_id") != ""))
        .unique(["user_key", "news_id"], keep="first", maintain_order=True)
    )


def first_impressions(rows: pl.DataFrame) -> pl.DataFrame:
    """Earliest impression time per user key."""
    return rows.group_by(_user_key().alias("user_key")).agg(pl.col("ts").min().alias("first_ts"))


def history_events(pairs: pl.DataFrame, first: pl.DataFrame) -> pl.DataFrame:
    """History clicks dated one second before the import's earliest impression (see module docstring)."""
    pairs = pairs.unique(["user_key", "news_id"], keep="first", maintain_order=True)
    joined = pairs.with_columns(pl.lit(first["first_ts"].min(), dtype=first.schema["first_ts"]).alias("first_ts"))
    return joined.select(
        pl.format("mind-hist-{}-{}", pl.col("user_key"), pl.col("news_id")).alias("event_id"),
        prefixed("user_id", PREFIX).alias("user_id"),
        prefixed("news_id", PREFIX).alias("item_id"),
        pl.lit("click").alias("event_type"),
        (pl.col("first_ts") - pl.duration(seconds=1)).alias("timestamp"),
    )


def empty_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows with neither history nor impressions: nothing to map, so they are rejected."""
    blank = lambda c: pl.col(c).fill_null("").str.strip_chars() == ""  # noqa: E731
    return rows.filter(blank("history") & blank("impressions")).select(
        "source_file",
        "line",
        _raw_line(),
        pl.lit("no history and no impressions").alias("reason"),
        pl.lit("").alias("detail"),
    )


def news_items(raw: pl.DataFrame) -> pl.DataFrame:
    """Catalogue rows from news rows."""
    category = pl.col("category").fill_null("").str.strip_chars()
    subcategory = pl.col("subcategory").fill_null("").str.strip_chars()
    path = pl.when(subcategory == "").then(category).otherwise(pl.concat_str([category, subcategory], separator="/"))
    return raw.select(
        prefixed("news_id", PREFIX).alias("item_id"),
        pl.col("title").fill_null("").str.strip_chars().alias("title"),
        pl.col("abstract").fill_null("").str.strip_chars().alias("description"),
        category.alias("category"),
        subcategory.alias("subcategory"),
        path.alias("category_path"),
        pl.col("url").fill_null("").str.strip_chars().alias("url"),
    )


def sniff_kind(path: Path) -> str | None:
    """'behaviors' or 'news' from the most common field count of the first lines; None if empty."""
    widths: dict[int, int] = {}
    for number, text, _ in iter_lines(path):
        if text:
            width = len(text.split("\t"))
            widths[width] = widths.get(width, 0) + 1
        if number >= SNIFF_LINES:
            break
    if not widths:
        return None
    width = max(widths, key=lambda w: (widths[w], -w))
    if width not in KIND_BY_WIDTH:
        raise ImportInputError(
            f"{path}: not a MIND file: lines have {width} tab-separated fields; "
            f"behaviors.tsv has {len(BEHAVIOR_FIELDS)} and news.tsv {len(NEWS_FIELDS)}"
        )
    return KIND_BY_WIDTH[width]


def read_rows(path: Path, kind: str, rejects: Rejects, rows_read: dict[str, int]):
    """Yield frames of raw rows (all strings, plus file and line); bad lines go to ``rejects``.

    The number of non-blank lines is stored in ``rows_read`` once the file is read.
    """
    fields = FIELDS_BY_KIND[kind]
    buffer = ChunkBuffer({**{f: pl.String() for f in fields}, **ROW_COLUMNS})
    n_rows = n_good = 0
    for number, text, raw in iter_lines(path):
        if not raw:
            continue
        n_rows += 1
        if text is None:
            rejects.add(path, number, raw_text(text, raw), "invalid UTF-8")
            continue
        values = text.split("\t")
        if len(values) != len(fields):
            rejects.add(
                path,
                number,
                text,
                "wrong number of fields",
                f"expected {len(fields)} tab-separated fields, found {len(values)}",
            )
            continue
        n_good += 1
        buffer.append({**dict(zip(fields, values)), "source_file": str(path), "line": number})
        if buffer.full():
            yield buffer.take()
    if len(buffer):
        yield buffer.take()
    if n_rows and not n_good:
        raise ImportInputError(f"{path}: no line has the {len(fields)} tab-separated fields of a MIND {kind} file")
    rows_read[str(path)] = rows_read.get(str(path), 0) + n_rows


def convert(paths: list[Path]) -> Conversion:
    """Map MIND behaviour and news files (any number of each, ``.gz`` accepted)."""
    inputs = InputFiles()
    event_frames, item_frames, pairs, firsts = [], [], [], []
    for kind, chunk in inputs.chunks(paths, sniff_kind, read_rows):
        if kind == "news":
            item_frames.append(news_items(chunk))
            continue
        rows, bad_time = parse_behaviors(chunk)
        inputs.rejects.add_frame(bad_time)
        events, bad_tokens = impression_events(rows)
        event_frames.append(events)
        inputs.rejects.add_frame(bad_tokens)
        inputs.rejects.add_frame(empty_rows(rows))
        pairs.append(history_pairs(rows))
        firsts.append(first_impressions(rows))
    if pairs:
        event_frames.append(history_events(pl.concat(pairs), pl.concat(firsts)))
    return inputs.conversion(event_frames, item_frames)
