"""Clustering that stays honest and bounded as the data grows.

1. Identical and near-identical texts are clustered once (``core.text.near_duplicates``) and every copy
   gets its text's cluster.
2. Above ``max_fit_points`` distinct points, the reduction and HDBSCAN are fitted on a seeded
   sample stratified by a cheap k-means pre-partition (so that small topics keep members in the
   sample), and every other point joins the nearest subtopic centroid in embedding space.
   Nearest-centroid assignment costs one matrix product, where UMAP's ``transform`` would cost
   about as much as the fit again; it is the same rule the pipeline already uses for content
   arriving between re-clusterings.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from interest_pipeline.core.clustering.cluster_identity import assign_to_nearest_centroid
from interest_pipeline.core.clustering.density_clustering import (
    NOISE,
    ClusteringParams,
    TwoLevelClustering,
    centroids,
    two_level_clustering,
)
from interest_pipeline.core.common.phases import PhaseCallback
from interest_pipeline.core.text.near_duplicates import distinct_points


def stratified_sample(vectors: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of ``size`` rows: every k-means stratum keeps a floor of members, the
    rest is allocated in proportion to the strata's sizes."""
    n = len(vectors)
    if size >= n:
        return np.arange(n, dtype=np.int64)
    from sklearn.cluster import MiniBatchKMeans

    n_strata = int(min(256, max(2, round(np.sqrt(size)))))
    strata = MiniBatchKMeans(n_clusters=n_strata, random_state=seed, n_init=1, batch_size=4096).fit_predict(vectors)
    counts = np.bincount(strata, minlength=n_strata)
    floor = np.minimum(counts, max(1, size // (4 * n_strata)))
    spare = counts - floor
    share = spare / spare.sum() * (size - floor.sum()) if spare.sum() else np.zeros(n_strata)
    extra = np.floor(share).astype(np.int64)
    # Largest remainders get the last few places, so the sample has exactly ``size`` rows.
    missing = size - floor.sum() - extra.sum()
    if missing > 0:
        extra[np.argsort(-(share - extra), kind="stable")[:missing]] += 1
    take = np.minimum(counts, floor + extra)
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(strata == s), size=int(take[s]), replace=False) for s in range(n_strata) if take[s]
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def cluster_distinct(
    vectors: np.ndarray,
    params: ClusteringParams,
    keys: Sequence[str] | None = None,
    on_phase: PhaseCallback | None = None,
) -> TwoLevelClustering:
    """Two-level clustering of every point, fitted once per distinct key (see the module docstring).

    The result holds one label per input point; ``fit_rows`` names the points that the
    reduction and HDBSCAN saw (one representative per distinct key, sampled above
    ``max_fit_points``), for quality metrics and pictures. ``on_phase`` hears of each phase as it ends.
    """
    distinct = distinct_points(keys, len(vectors))
    distinct_vectors = vectors[distinct.representative]
    timings: dict[str, float] = {}
    start = time.perf_counter()
    fit_index = stratified_sample(distinct_vectors, params.max_fit_points, params.random_state)
    timings["sample_seconds"] = time.perf_counter() - start
    if len(fit_index) < len(distinct_vectors) and on_phase:
        on_phase(
            "sample",
            timings["sample_seconds"],
            f"{len(fit_index):,} of {len(distinct_vectors):,} distinct points fitted",
        )
    fit = two_level_clustering(distinct_vectors[fit_index], params, on_phase)
    timings.update(fit.timings)

    n = distinct.n_groups
    fine_raw = np.full(n, NOISE, dtype=np.int64)
    fine, coarse = fine_raw.copy(), fine_raw.copy()
    probabilities = np.zeros(n, dtype=np.float32)
    noise_assigned = np.zeros(n, dtype=bool)
    fine_raw[fit_index], fine[fit_index], coarse[fit_index] = fit.fine_raw, fit.fine, fit.coarse
    probabilities[fit_index], noise_assigned[fit_index] = fit.probabilities, fit.noise_assigned

    rest = np.setdiff1d(np.arange(n), fit_index, assume_unique=True)
    start = time.perf_counter()
    # Raw members define the centroids; when HDBSCAN found nothing the fit put everything in one cluster.
    members = fit.fine_raw if (fit.fine_raw != NOISE).any() else fit.fine
    ids, centres = centroids(distinct_vectors[fit_index], members)
    if len(rest) and len(ids):
        _, fit_similarity = assign_to_nearest_centroid(distinct_vectors[fit_index], centres, -np.inf)
        # The rest is flagged as noise at the fit's own noise share: a point counts as noise when
        # it is less similar to its nearest subtopic than the fit's noise points typically are.
        noise_share = float((fit.fine_raw == NOISE).mean())
        threshold = float(np.quantile(fit_similarity, noise_share)) if noise_share > 0 else -np.inf
        best, similarity = assign_to_nearest_centroid(distinct_vectors[rest], centres, -np.inf)
        nearest_ids = ids[best]
        is_noise = similarity < threshold
        fine_raw[rest] = np.where(is_noise, NOISE, nearest_ids)
        fine[rest] = nearest_ids if params.assign_noise else fine_raw[rest]
        noise_assigned[rest] = is_noise & params.assign_noise
        coarse[rest] = [fit.fine_to_coarse.get(int(f), NOISE) for f in fine[rest]]
        # Cosine to the subtopic stands in for HDBSCAN's membership strength of fitted points.
        probabilities[rest] = np.where(is_noise, 0.0, np.clip(similarity, 0.0, 1.0))
    timings["assign_seconds"] = time.perf_counter() - start
    if len(rest) and on_phase:
        on_phase("assign rest", timings["assign_seconds"], f"{len(rest):,} points to their nearest subtopic")
    return dataclasses.replace(
        fit,
        fine_raw=distinct.broadcast(fine_raw),
        fine=distinct.broadcast(fine),
        coarse=distinct.broadcast(coarse),
        probabilities=distinct.broadcast(probabilities),
        noise_assigned=distinct.broadcast(noise_assigned),
        timings=timings,
        fit_rows=distinct.representative[fit_index],
        distinct_rows=distinct.representative,
    )
