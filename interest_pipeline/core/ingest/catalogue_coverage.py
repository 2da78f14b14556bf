"""How much of the behaviour log the item catalogue describes.

Events on items missing from the catalogue still count as behaviour, but they carry no item
text, so they reach no topic: a log whose items are mostly uncatalogued leaves users without
layers of their own. These functions count such events and name the users they leave out.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# Above this share of item events on uncatalogued items the coverage check warns.
MAX_UNKNOWN_ITEM_SHARE = 0.01

# Why a user's layers are the popular fallback (``fallback_reason``; null for layers of their own).
COLD_START, ITEMS_NOT_IN_CATALOGUE, NOTHING_PLACED = "cold_start", "items_not_in_catalogue", "nothing_placed"


def _unknown(catalogue_ids: pl.Series) -> pl.Expr:
    return pl.col("item_id").is_not_null() & ~pl.col("item_id").is_in(catalogue_ids)


def unknown_items_per_date(events: pl.DataFrame, catalogue_ids: pl.Series) -> pl.DataFrame:
    """log_date, events_with_item, events_on_unknown_items: per log date of ``events`` (log_date, item_id)."""
    return (
        events.group_by("log_date")
        .agg(
            pl.col("item_id").is_not_null().sum().cast(pl.Int64).alias("events_with_item"),
            _unknown(catalogue_ids).sum().cast(pl.Int64).alias("events_on_unknown_items"),
        )
        .sort("log_date")
    )


@dataclass(frozen=True)
class Coverage:
    events_with_item: int
    events_on_unknown_items: int
    distinct_unknown_items: int
    examples: list[str]  # the most frequent unknown item ids

    @property
    def unknown_share(self) -> float:
        return self.events_on_unknown_items / self.events_with_item if self.events_with_item else 0.0

    @property
    def passed(self) -> bool:
        return self.unknown_share <= MAX_UNKNOWN_ITEM_SHARE

    def message(self) -> str:
        if not self.events_on_unknown_items:
            return f"every one of the {self.events_with_item:,d} events with an item refers to a catalogued item"
        return (
            f"{self.unknown_share:.1%} of events refer to items not in the catalogue "
            f"({self.events_on_unknown_items:,d} of {self.events_with_item:,d} events, {self.distinct_unknown_items:,d} distinct items), "
            f"e.g. {', '.join(self.examples)}"
        )


def catalogue_coverage(item_ids: pl.Series, catalogue_ids: pl.Series, n_examples: int = 5) -> Coverage:
    """Coverage of the events' ``item_ids`` (nulls are events without an item) by ``catalogue_ids``."""
    events = pl.DataFrame({"item_id": item_ids}, schema={"item_id": pl.String}).filter(pl.col("item_id").is_not_null())
    unknown = events.filter(_unknown(catalogue_ids))
    frequent = unknown.group_by("item_id").len().sort(["len", "item_id"], descending=[True, False])
    return Coverage(
        events_with_item=events.height,
        events_on_unknown_items=unknown.height,
        distinct_unknown_items=frequent.height,
        examples=frequent["item_id"].head(n_examples).to_list(),
    )


def with_fallback_reason(layers: pl.DataFrame, only_unknown_items: pl.Series) -> pl.DataFrame:
    """``layers`` (with ``source`` and ``is_cold_start``) plus ``fallback_reason`` for the popular rows:
    cold start first, then every item event on an uncatalogued item, else nothing placed in the taxonomy."""
    return layers.with_columns(
        pl.when(pl.col("source") != "popular")
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("is_cold_start"))
        .then(pl.lit(COLD_START))
        .when(pl.col("user_id").is_in(only_unknown_items))
        .then(pl.lit(ITEMS_NOT_IN_CATALOGUE))
        .otherwise(pl.lit(NOTHING_PLACED))
        .alias("fallback_reason")
    )
