"""Time-decayed sums brought forward: what lets the daily update add a day to a user's vector.

A user's behaviour or text vector is the direction of a sum over the user's rows, each weighted by
``w · 0.5^(age / half_life)`` with the age measured from the user's latest row ``T``. Such a sum
``S`` referenced to ``T``, brought to a later ``T'``, is ``S · 0.5^((T' - T) / half_life)``:
exactly the sum referenced to ``T'``. So the sum over a user's old and new rows is the two sums,
each brought to the later of their references, added; a daily update needs the day's rows and
the stored sum, not the user's whole history.

A stored sum is kept as its direction (the unit vector the feature table holds anyway) and its
norm, so the state adds one number per user rather than another vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from interest_pipeline.core.common.vectors import l2_normalise

_DAY = np.timedelta64(86_400_000_000, "us")


@dataclass(frozen=True)
class DecayedSums:
    """Per key (row i of ``sums`` is ``keys[i]``'s): a decayed sum and the time it is referenced
    to (``NaT`` for a key without weighted rows, whose sum is zero)."""

    keys: list[str]
    sums: np.ndarray  # float64, not normalised
    reference_ts: np.ndarray  # datetime64[us]

    def __post_init__(self) -> None:
        if not len(self.keys) == len(self.sums) == len(self.reference_ts):
            raise ValueError(f"{len(self.keys)} keys, {len(self.sums)} sums, {len(self.reference_ts)} reference times")

    @classmethod
    def from_stored(
        cls, keys: list[str], unit_vectors: np.ndarray, norms: np.ndarray, reference_ts: np.ndarray
    ) -> DecayedSums:
        """The sums a feature table's unit vectors and the stored norms stand for."""
        return cls(
            keys, unit_vectors.astype(np.float64) * np.asarray(norms, dtype=np.float64)[:, None], _as_us(reference_ts)
        )

    @classmethod
    def concat(cls, parts: list[DecayedSums], dim: int) -> DecayedSums:
        """Several keys' sums in one (the parts must not share keys; empty ones may have any width)."""
        parts = [part for part in parts if part.keys]
        keys = [key for part in parts for key in part.keys]
        if len(set(keys)) != len(keys):
            raise ValueError("decayed sums to concatenate share keys")
        sums = np.concatenate([np.zeros((0, dim)), *[part.sums for part in parts]])
        return cls(
            keys, sums, np.concatenate([np.zeros(0, dtype="datetime64[us]"), *[part.reference_ts for part in parts]])
        )

    def reindexed(self, keys: list[str]) -> DecayedSums:
        """The sums of ``keys`` in that order: a zero sum (NaT) for a key without one here."""
        rows = (
            pl.DataFrame({"key": keys}, schema={"key": pl.String})
            .join(
                pl.DataFrame(
                    {"key": self.keys, "row": np.arange(len(self.keys))}, schema={"key": pl.String, "row": pl.Int64}
                ),
                on="key",
                how="left",
                maintain_order="left",
            )["row"]
            .fill_null(-1)
            .to_numpy()
        )
        found = rows >= 0
        sums = np.zeros((len(keys), self.sums.shape[1]))
        sums[found] = self.sums[rows[found]]
        reference = np.full(len(keys), np.datetime64("NaT"), dtype="datetime64[us]")
        reference[found] = self.reference_ts[rows[found]]
        return DecayedSums(list(keys), sums, reference)

    @property
    def unit_vectors(self) -> np.ndarray:
        return l2_normalise(self.sums)

    @property
    def norms(self) -> np.ndarray:
        return np.linalg.norm(self.sums, axis=1)


def _as_us(timestamps) -> np.ndarray:
    return np.asarray(timestamps, dtype="datetime64[us]")


def decay_factor(from_ts: np.ndarray, to_ts: np.ndarray, half_life_days: float) -> np.ndarray:
    """``0.5^((to - from) / half_life)`` per row."""
    if half_life_days <= 0:
        raise ValueError(f"half_life_days must be positive, got {half_life_days}")
    days = (_as_us(to_ts) - _as_us(from_ts)) / _DAY
    if np.any(days < 0):
        raise ValueError("a decayed sum cannot be brought back to an earlier time")
    return np.power(0.5, days / half_life_days)


def _decay_to(from_ts: np.ndarray, to_ts: np.ndarray, half_life_days: float) -> np.ndarray:
    """:func:`decay_factor`, 0 where ``from_ts`` is NaT (a zero sum: nothing to bring)."""
    missing = np.isnat(from_ts)
    factor = np.zeros(len(from_ts))
    factor[~missing] = decay_factor(from_ts[~missing], to_ts[~missing], half_life_days)
    return factor


def add_decayed(earlier: DecayedSums, later: DecayedSums, half_life_days: float) -> DecayedSums:
    """The decayed sum over the rows of both (same keys in the same order), referenced to the
    later of each key's two reference times."""
    if earlier.keys != later.keys:
        raise ValueError("decayed sums of different keys cannot be added")
    reference = np.fmax(earlier.reference_ts, later.reference_ts)  # fmax: NaT gives way to a time
    sums = earlier.sums * _decay_to(earlier.reference_ts, reference, half_life_days)[:, None]
    sums = sums + later.sums * _decay_to(later.reference_ts, reference, half_life_days)[:, None]
    return DecayedSums(list(earlier.keys), sums, reference)
