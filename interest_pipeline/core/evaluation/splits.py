"""Split protocols of the hold-out evaluation: where each user's training period ends.

Every protocol gives each user a boundary time; the user's events strictly before it are
training events, those at or after it test events, so a user's training events are never
after their test events (events at one instant, such as one impression, stay together).

- ``per_user`` (default): each user's last ``test_fraction`` of their *anchor* events (events
  of the relevant types on an item), at least one, or the last ``test_events`` when that is
  set; the boundary is the time of the first held-out anchor event;
- ``leave_last_one``: the user's last anchor event (``per_user`` with one test event);
- ``global_cutoff``: one time for everyone, ``cutoff`` or ``cutoff_fraction`` of the log's span.

A user with a single anchor event and nothing before it has no training history: scored as a
cold-start user. Users without anchor events keep every event as training events (they have
nothing to predict). The validation slice is the same protocol applied to the training events
only (:func:`validation_split`); parameters tuned on it never see a test event.

Popularity and the K-Means segments learn from every user's training events; under a per-user
split one user's training events can be later than another user's test events, as in every
per-user protocol (the global cutoff is the option without that).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

PROTOCOLS: tuple[str, ...] = ("per_user", "leave_last_one", "global_cutoff")


@dataclass(frozen=True)
class SplitParams:
    """How the events are split (rules in the module docstring)."""

    protocol: str = "per_user"
    test_fraction: float = 0.2  # per_user: the last this share of each user's anchor events
    test_events: int = 0  # per_user: when above 0, the last this many anchor events instead
    cutoff: dt.datetime | None = None  # global_cutoff: None means cutoff_fraction of the span
    cutoff_fraction: float = 0.8

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown split protocol {self.protocol!r}; expected one of {list(PROTOCOLS)}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.test_events < 0:
            raise ValueError(f"test_events must not be negative, got {self.test_events}")
        if not 0.0 < self.cutoff_fraction < 1.0:
            raise ValueError(f"cutoff_fraction must be in (0, 1), got {self.cutoff_fraction}")


@dataclass(frozen=True)
class Split:
    """Training and test events, and each user's boundary (user_id, boundary_ts)."""

    train: pl.DataFrame
    test: pl.DataFrame
    boundaries: pl.DataFrame

    @property
    def reference_ts(self) -> dt.datetime:
        """One time at or after every boundary: decaying from it keeps each user's shares as
        decaying from their own boundary would (exponential decay scales a user's weights alike)."""
        return self.boundaries["boundary_ts"].max()

    def users_with_history(self, user_ids: Sequence[str]) -> list[bool]:
        known = set(self.train["user_id"].to_list())
        return [u in known for u in user_ids]


def cutoff_at_fraction(events: pl.DataFrame, fraction: float) -> dt.datetime:
    """The time ``fraction`` of the way from the first to the last event."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    if events.height == 0:
        raise ValueError("no events to split")
    first, last = events["event_ts"].min(), events["event_ts"].max()
    return first + (last - first) * fraction


def held_out_count(n_anchor: int, params: SplitParams) -> int:
    """How many of a user's ``n_anchor`` anchor events the per-user protocols hold out."""
    if params.protocol == "leave_last_one":
        return 1
    if params.test_events > 0:
        return min(params.test_events, n_anchor)
    return max(1, math.ceil(params.test_fraction * n_anchor - 1e-9))


def user_boundaries(events: pl.DataFrame, params: SplitParams, anchor_types: Sequence[str]) -> pl.DataFrame:
    """user_id, boundary_ts for every user with an anchor event (rules in the module docstring)."""
    ts_type = events.schema["event_ts"]
    if params.protocol == "global_cutoff":
        cutoff = params.cutoff if params.cutoff is not None else cutoff_at_fraction(events, params.cutoff_fraction)
        users = events.select("user_id").unique().sort("user_id")
        return users.with_columns(pl.lit(cutoff, dtype=ts_type).alias("boundary_ts"))
    anchors = events.filter(pl.col("event_type").is_in(list(anchor_types)) & pl.col("item_id").is_not_null())
    sort_keys = ["user_id", "event_ts"] + (["event_id"] if "event_id" in anchors.columns else [])
    ordered = (
        anchors.select(sort_keys)
        .sort(sort_keys)
        .with_columns(pl.int_range(pl.len()).over("user_id").alias("_position"), pl.len().over("user_id").alias("_n"))
    )
    if params.protocol == "leave_last_one" or params.test_events > 0:
        held = pl.lit(held_out_count(10**9, params)).clip(upper_bound=pl.col("_n"))
    else:
        held = (pl.col("_n") * params.test_fraction - 1e-9).ceil().cast(pl.Int64).clip(lower_bound=1)
    return (
        ordered.filter(pl.col("_position") == pl.col("_n") - held)
        .select("user_id", pl.col("event_ts").cast(ts_type).alias("boundary_ts"))
        .sort("user_id")
    )


def split_events(events: pl.DataFrame, params: SplitParams, anchor_types: Sequence[str]) -> Split:
    """Training and test events under ``params`` (users without a boundary: all training)."""
    if events.height == 0:
        raise ValueError("no events to split")
    boundaries = user_boundaries(events, params, anchor_types)
    joined = events.join(boundaries, on="user_id", how="left")
    is_test = pl.col("boundary_ts").is_not_null() & (pl.col("event_ts") >= pl.col("boundary_ts"))
    train = joined.filter(~is_test).drop("boundary_ts")
    test = joined.filter(is_test).drop("boundary_ts")
    return Split(train, test, boundaries)


def validation_split(train: pl.DataFrame, params: SplitParams, anchor_types: Sequence[str]) -> Split:
    """The validation slice: the same protocol cut from the training events alone."""
    if params.protocol == "global_cutoff":
        # The validation cutoff sits as far into the training period as the cutoff into the log.
        return split_events(train, SplitParams("global_cutoff", cutoff_fraction=params.cutoff_fraction), anchor_types)
    return split_events(train, params, anchor_types)
