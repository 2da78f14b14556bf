"""Distinct content: identical and near-identical texts are clustered once.

Real comment streams repeat themselves (copy-pasted reviews, "Great product, fast delivery!"
thousands of times with a changed "!" or emoji). Clustering every copy wastes the reduction's
time and, worse, lets a flood form a dense "topic" of its own or pull the k-NN graph apart into
components. So the clustering sees each distinct text once and every copy gets its text's
cluster afterwards.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_NOT_WORD = re.compile(r"[\W_]+")


def near_duplicate_key(text: str | None) -> str:
    """The text reduced to its words: case, accents' width forms, punctuation, emoji and spacing
    no longer matter, so "Great product, fast delivery!" and "great product fast delivery 👍"
    share one key. Word order and every word still count: "not good" stays apart from "good".
    A text with no word characters keeps itself as its key, so it is only merged with exact copies.
    """
    if text is None:
        return ""
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = _NOT_WORD.sub(" ", folded).strip()
    return words if words else text


@dataclass(frozen=True)
class DistinctPoints:
    """Groups of points sharing a key, in order of first appearance."""

    representative: np.ndarray  # per group: index of its first point
    inverse: np.ndarray  # per point: its group
    counts: np.ndarray  # per group: number of points

    @property
    def n_groups(self) -> int:
        return len(self.representative)

    def broadcast(self, per_group: np.ndarray) -> np.ndarray:
        """A value per group -> the same value for each of the group's points."""
        return np.asarray(per_group)[self.inverse]


def distinct_points(keys: Sequence[str] | None, n_points: int) -> DistinctPoints:
    """Group points by key; ``None`` keys mean every point is distinct (e.g. users)."""
    if keys is None:
        index = np.arange(n_points, dtype=np.int64)
        return DistinctPoints(index, index.copy(), np.ones(n_points, dtype=np.int64))
    if len(keys) != n_points:
        raise ValueError(f"{len(keys)} keys for {n_points} points")
    _, first, inverse, counts = np.unique(
        np.asarray(keys, dtype=object).astype(str), return_index=True, return_inverse=True, return_counts=True
    )
    # np.unique sorts by key; renumber groups by first appearance so results do not depend on key order.
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return DistinctPoints(first[order].astype(np.int64), rank[inverse].astype(np.int64), counts[order].astype(np.int64))
