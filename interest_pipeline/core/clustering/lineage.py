"""Stable cluster ids across re-clusterings, and what changed since the previous run."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

from interest_pipeline.core.clustering.agreement import agreement
from interest_pipeline.core.clustering.cluster_identity import (
    cluster_centroids,
    match_clusters,
    parse_number,
    relabel,
    splits_and_merges,
)
from interest_pipeline.core.clustering.density_clustering import TwoLevelClustering


def stabilise_ids(
    result: TwoLevelClustering, vectors: np.ndarray, previous_fine: dict, previous_coarse: dict, min_similarity: float
) -> tuple[TwoLevelClustering, dict[str, float], dict]:
    """Renumber the clusters to match the previous run's, and describe what changed."""
    fine_match = match_clusters(previous_fine, cluster_centroids(vectors, result.fine), min_similarity)
    coarse_match = match_clusters(previous_coarse, cluster_centroids(vectors, result.coarse), min_similarity)
    stable = dataclasses.replace(
        result,
        fine_raw=relabel(result.fine_raw, fine_match.mapping),
        fine=relabel(result.fine, fine_match.mapping),
        coarse=relabel(result.coarse, coarse_match.mapping),
        fine_to_coarse={fine_match.mapping[f]: coarse_match.mapping[c] for f, c in result.fine_to_coarse.items()},
    )
    metrics = {}
    if previous_fine:
        metrics = {
            "fine_matched_share": fine_match.matched_share(len(previous_fine)),
            "coarse_matched_share": coarse_match.matched_share(len(previous_coarse)),
            "fine_births": float(len(fine_match.births)),
            "fine_deaths": float(len(fine_match.deaths)),
            "coarse_births": float(len(coarse_match.births)),
            "coarse_deaths": float(len(coarse_match.deaths)),
        }
    lineage = {
        "fine": {"matched": fine_match.matched, "births": fine_match.births, "deaths": fine_match.deaths},
        "coarse": {"matched": coarse_match.matched, "births": coarse_match.births, "deaths": coarse_match.deaths},
    }
    return stable, metrics, lineage


def overlap_changes(
    previous: pl.DataFrame, current: pl.DataFrame, keys: list[str], column: str, level: int
) -> tuple[dict[str, float], dict]:
    """ARI of the assignments of points present in both runs, and splits / merges among them."""
    both = previous.select(*keys, pl.col(column).alias("_before")).join(
        current.select(*keys, pl.col(column).alias("_after")), on=keys
    )
    both = both.drop_nulls()
    if both.height == 0:
        return {}, {"splits": [], "merges": []}
    changes = splits_and_merges(
        np.array([parse_number(v, level) for v in both["_before"]]),
        np.array([parse_number(v, level) for v in both["_after"]]),
    )
    metrics = {
        "ari_vs_previous_run": agreement(both["_before"].to_list(), both["_after"].to_list())["ari"],
        "points_in_both_runs": float(both.height),
        "splits": float(len(changes["splits"])),
        "merges": float(len(changes["merges"])),
    }
    return metrics, changes
