"""What a clustering run reports: metrics for MLflow, a per-cluster table and its two pictures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from interest_pipeline.core.clustering.density_clustering import (
    NOISE,
    ClusteringParams,
    TwoLevelClustering,
    cluster_quality,
)
from interest_pipeline.core.clustering.plots import cluster_map_png, project_2d, silhouette_bar_png


@dataclass(frozen=True)
class ClusteringReport:
    metrics: dict[str, float]
    # One row per fine cluster, best silhouette first: cluster, label, parent, parent_label,
    # points (fitted points in it, noise excluded), silhouette (NaN when not sampled).
    per_cluster: pl.DataFrame
    cluster_map: bytes
    silhouette_bars: bytes


def clustering_report(
    result: TwoLevelClustering,
    vectors: np.ndarray,
    params: ClusteringParams,
    fine_names: dict[int, str],
    fine_labels: dict[int, str] | None = None,
    coarse_names: dict[int, str] | None = None,
    coarse_labels: dict[int, str] | None = None,
    coarse_title: str = "coarse cluster",
) -> ClusteringReport:
    """``fine_names`` / ``coarse_names`` are the clusters' ids as stored (``t00.s003``, ``t00``);
    ``fine_labels`` / ``coarse_labels`` their keyword labels where there are any; ``coarse_title``
    names the coarse level in the map's legend."""
    fine_labels, coarse_labels = fine_labels or {}, coarse_labels or {}
    coarse_names = coarse_names or {c: str(c) for c in set(result.fine_to_coarse.values())}
    # Silhouette and the map cover the points HDBSCAN saw (each distinct text once); the noise
    # share counts every point, copies included, since that is what the tables hold.
    fit_vectors = vectors if result.fit_rows is None else vectors[result.fit_rows]
    fit_raw = result.fitted(result.fine_raw)
    quality = cluster_quality(fit_vectors, result.reduced, fit_raw, params.silhouette_sample_size, params.random_state)
    n_coarse = len(set(result.coarse.tolist()) - {NOISE})
    metrics = {
        **quality.as_metrics(),
        "noise_fraction": float((result.fine_raw == NOISE).mean()) if len(result.fine_raw) else 0.0,
        "noise_fraction_fitted": quality.noise_fraction,
        "dbcv_relative_validity": result.relative_validity,
        "n_coarse_clusters": float(n_coarse),
        "n_fine_clusters": float(len(set(result.fine_raw.tolist()) - {NOISE})),
        "noise_assigned_fraction": float(result.noise_assigned.mean()) if len(result.noise_assigned) else 0.0,
        "n_points": float(len(vectors)),
        "n_distinct_points": float(result.n_distinct),
        "n_fitted_points": float(len(result.reduced)),
        **result.timings,
    }
    fine_ids = sorted(set(fit_raw.tolist()) - {NOISE})
    counts = {int(f): int(c) for f, c in zip(*np.unique(fit_raw[fit_raw != NOISE], return_counts=True))}
    parents = [result.fine_to_coarse.get(f, NOISE) for f in fine_ids]
    per_cluster = (
        pl.DataFrame(
            {
                "cluster": [fine_names[f] for f in fine_ids],
                "label": [fine_labels.get(f, "") for f in fine_ids],
                "parent": [coarse_names.get(c, "") for c in parents],
                "parent_label": [coarse_labels.get(c, "") for c in parents],
                "points": [counts.get(f, 0) for f in fine_ids],
                "silhouette": [quality.per_cluster_silhouette.get(f, float("nan")) for f in fine_ids],
            },
            schema={
                "cluster": pl.String,
                "label": pl.String,
                "parent": pl.String,
                "parent_label": pl.String,
                "points": pl.Int64,
                "silhouette": pl.Float64,
            },
        )
        .with_columns(pl.col("silhouette").fill_nan(None))
        .sort("silhouette", "cluster", descending=[True, False], nulls_last=True)
    )

    def named(name: str, label: str) -> str:
        return f"{name}  {label}" if label else name

    points = project_2d(result.reduced)
    # the map shows the distinct points HDBSCAN saw: their noise share, and every point's beside it
    # when copies make the two differ (the noise_fraction metric counts every point)
    title = f"{quality.n_clusters} clusters over {len(fit_raw):,} distinct points, noise {metrics['noise_fraction_fitted']:.1%}"
    if len(fit_raw) != len(result.fine_raw):
        title += f" (of all {len(result.fine_raw):,} points {metrics['noise_fraction']:.1%})"
    cluster_map = cluster_map_png(
        points,
        fit_raw,
        title,
        fine_to_coarse=result.fine_to_coarse,
        fine_names={f: fine_labels.get(f) or fine_names[f] for f in fine_ids},
        coarse_names={c: named(n, coarse_labels.get(c, "")) for c, n in coarse_names.items()},
        coarse_title=coarse_title,
    )
    bars = silhouette_bar_png(
        {named(fine_names[f], fine_labels.get(f, "")): s for f, s in quality.per_cluster_silhouette.items()},
        "silhouette per cluster (cosine)",
    )
    return ClusteringReport(metrics, per_cluster, cluster_map, bars)
