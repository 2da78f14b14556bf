"""What a clustering run reports: metrics for MLflow, silhouette per cluster and its two pictures."""

from __future__ import annotations

import numpy as np

from interest_pipeline.core.clustering import NOISE, ClusteringParams, TwoLevelClustering, cluster_quality
from interest_pipeline.core.plots import cluster_map_png, project_2d, silhouette_bar_png


def clustering_report(
    result: TwoLevelClustering, vectors: np.ndarray, params: ClusteringParams, fine_names: dict[int, str]
) -> tuple[dict[str, float], dict[str, float], bytes, bytes]:
    """Metrics for MLflow, silhouette per named fine cluster, and the two pictures."""
    # Silhouette and the map cover the points HDBSCAN saw (each distinct text once); the noise
    # share counts every point, copies included, since that is what the tables hold.
    fit_vectors = vectors if result.fit_rows is None else vectors[result.fit_rows]
    fit_raw = result.fitted(result.fine_raw)
    quality = cluster_quality(fit_vectors, result.reduced, fit_raw, params.silhouette_sample_size, params.random_state)
    per_cluster = {fine_names[c]: s for c, s in quality.per_cluster_silhouette.items()}
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
    points = project_2d(result.reduced)
    cluster_map = cluster_map_png(points, fit_raw, f"{quality.n_clusters} clusters, noise {metrics['noise_fraction']:.0%}")
    bars = silhouette_bar_png(per_cluster, "silhouette per cluster (cosine)")
    return metrics, per_cluster, cluster_map, bars
