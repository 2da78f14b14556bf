"""Stable cluster identities across re-clusterings: match new clusters to the previous run's.

Clusters are matched one-to-one by centroid cosine similarity (Hungarian assignment); a
match below ``min_similarity`` does not count. Matched clusters keep their previous number,
new ones get numbers never used before, so ids do not reshuffle between runs. Member
overlap (points present in both runs) tells splits and merges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from interest_pipeline.core.clustering.density_clustering import NOISE, centroids


@dataclass
class IdentityMatch:
    mapping: dict[int, int]  # new cluster number -> stable number
    matched: dict[int, float] = field(default_factory=dict)  # stable number -> centroid similarity
    births: list[int] = field(default_factory=list)  # stable numbers of clusters without a predecessor
    deaths: list[int] = field(default_factory=list)  # previous numbers without a successor

    def matched_share(self, n_previous: int) -> float:
        return len(self.matched) / n_previous if n_previous else float("nan")


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


# A new cluster keeps a previous run's id when their centroids' cosine similarity reaches this.
MIN_IDENTITY_SIMILARITY = 0.8


def match_clusters(
    previous: dict[int, np.ndarray],
    current: dict[int, np.ndarray],
    min_similarity: float = MIN_IDENTITY_SIMILARITY,
    reserved: set[int] | None = None,
) -> IdentityMatch:
    """Give each current cluster a stable number: its match's, or a fresh one.

    ``previous`` and ``current`` map cluster numbers to centroids in the same space.
    ``reserved`` holds numbers that must not be reused for births (e.g. all ever issued).
    """
    current_ids = sorted(current)
    previous_ids = sorted(previous)
    mapping: dict[int, int] = {}
    matched: dict[int, float] = {}
    if current_ids and previous_ids:
        similarity = (
            _unit(np.vstack([current[i] for i in current_ids]))
            @ _unit(np.vstack([previous[i] for i in previous_ids])).T
        )
        rows, cols = linear_sum_assignment(-similarity)
        for r, c in zip(rows, cols, strict=True):
            if similarity[r, c] >= min_similarity:
                mapping[current_ids[r]] = previous_ids[c]
                matched[previous_ids[c]] = float(similarity[r, c])
    used = set(previous_ids) | (reserved or set())
    next_number = max(used) + 1 if used else 0
    births = []
    for cluster in current_ids:
        if cluster not in mapping:
            mapping[cluster] = next_number
            births.append(next_number)
            next_number += 1
    deaths = [p for p in previous_ids if p not in matched]
    return IdentityMatch(mapping=mapping, matched=matched, births=births, deaths=deaths)


def splits_and_merges(
    previous_labels: np.ndarray, current_labels: np.ndarray, min_share: float = 0.25
) -> dict[str, list]:
    """From labels of the same points in both runs (stable numbers; noise = -1).

    A split: a previous cluster with at least ``min_share`` of its members in each of two or
    more current clusters. A merge: a current cluster drawing at least ``min_share`` of its
    members from each of two or more previous clusters.
    """
    keep = (previous_labels != NOISE) & (current_labels != NOISE)
    before, after = previous_labels[keep], current_labels[keep]
    splits, merges = [], []
    for cluster in sorted(set(before.tolist())):
        targets, counts = np.unique(after[before == cluster], return_counts=True)
        parts = [int(t) for t, n in zip(targets, counts, strict=True) if n / counts.sum() >= min_share]
        if len(parts) >= 2:
            splits.append({"from": int(cluster), "into": parts})
    for cluster in sorted(set(after.tolist())):
        sources, counts = np.unique(before[after == cluster], return_counts=True)
        parts = [int(s) for s, n in zip(sources, counts, strict=True) if n / counts.sum() >= min_share]
        if len(parts) >= 2:
            merges.append({"into": int(cluster), "from": parts})
    return {"splits": splits, "merges": merges}


def cluster_centroids(vectors: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    ids, centres = centroids(vectors, labels)
    return dict(zip(ids.tolist(), centres, strict=True))


def relabel(labels: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    return np.array([mapping.get(int(x), NOISE) if x != NOISE else NOISE for x in labels], dtype=np.int64)


def parse_number(node_id: str, level: int) -> int:
    """The cluster number in an id such as ``t03.s012`` (level 0 -> 3, level 1 -> 12)."""
    return int(node_id.split(".")[level][1:])


def assign_to_nearest_centroid(
    vectors: np.ndarray, centroids: np.ndarray, min_similarity: float
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the most similar centroid per vector (cosine), or -1 below ``min_similarity``.

    Used between re-clusterings: new texts and items join the existing taxonomy without a
    refit, and what resembles no cluster closely enough stays noise.
    """
    if len(vectors) == 0 or len(centroids) == 0:
        return np.full(len(vectors), NOISE, dtype=np.int64), np.zeros(len(vectors), dtype=np.float32)
    similarity = _unit(vectors) @ _unit(centroids).T
    best = similarity.argmax(axis=1)
    best_similarity = similarity[np.arange(len(vectors)), best].astype(np.float32)
    return np.where(best_similarity >= min_similarity, best, NOISE).astype(np.int64), best_similarity
