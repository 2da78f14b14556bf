"""Dimension reduction, two-level HDBSCAN clustering and cluster-quality metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from interest_pipeline.core.common.jit_cache import import_umap
from interest_pipeline.core.common.phases import PhaseCallback

NOISE = -1

Reduction = Literal["umap", "pca", "none"]


# Seed of the reduction and of every sample, and the silhouette's sample size.
RANDOM_STATE = 42
SILHOUETTE_SAMPLE_SIZE = 5000


@dataclass(frozen=True)
class ClusteringParams:
    """Parameters of one two-level clustering; every field is logged to MLflow."""

    reduction: Reduction = "umap"
    # 10 components and 15 neighbours: on the realistic sample (116 subtopics) they matched 5 / 30
    # on subtopics and did better on topics (NMI 0.67 vs 0.64), in a seventh of UMAP's time.
    n_components: int = 10
    umap_n_neighbors: int = 15
    umap_min_dist: float = 0.0
    # "auto": UMAP's spectral start below SPECTRAL_INIT_MAX_POINTS points, PCA above. On ~270k
    # templated texts the k-NN graph falls into many components and the spectral start (ARPACK
    # eigsh per component) had not finished after 40 minutes; PCA is the start UMAP's
    # maintainers suggest for such graphs (lmcinnes/umap#1183).
    umap_init: Literal["auto", "spectral", "pca", "tswspectral", "random"] = "auto"
    # None: max(min_cluster_floor, round(min_cluster_scale * sqrt(points))). A size that grows
    # with the square root lets the number of fine clusters grow with the data too (about
    # sqrt(points) / scale at most), where a fixed share of the points would cap it near
    # 1 / share whatever the corpus: real catalogues have hundreds to thousands of fine interests.
    min_cluster_size: int | None = None
    min_cluster_scale: float = 0.25
    min_cluster_floor: int = 5
    # None: HDBSCAN's own default (= min_cluster_size).
    min_samples: int | None = 5
    fine_selection: Literal["leaf", "eom"] = "eom"
    # A number asks for that many Ward groups of the fine centroids; None lets coarse_method
    # choose how many from the data.
    n_coarse: int | None = None
    # "ward": the Ward tree of the fine centroids cut at the fewest topics, from
    # round(sqrt(fine clusters)) up to twice that, whose largest topic holds at most
    # coarse_max_share of the points (see balanced_groups): a catch-all topic says nothing.
    # "density": a second HDBSCAN at coarse_size_factor times the fine minimum size (see
    # density_groups).
    # Chosen on real corpora (interest_pipeline_tests/benchmarks/real_corpora.py --coarse-candidates,
    # 3 seeds, mean over 5 corpora): ward with 25% gave 9 topics, the largest 27% of the points,
    # AMI 0.193 / ARI 0.127, where density gave 6 topics, the largest 68%, AMI 0.159 / ARI 0.097.
    coarse_method: Literal["ward", "density"] = "ward"
    coarse_max_share: float = 0.25
    coarse_size_factor: int = 4
    assign_noise: bool = True
    random_state: int = RANDOM_STATE
    silhouette_sample_size: int = SILHOUETTE_SAMPLE_SIZE
    # Above this many distinct points the reduction and HDBSCAN are fitted on a stratified
    # seeded sample of them and the rest join their nearest subtopic (bounded cost at scale).
    max_fit_points: int = 20_000

    def resolved_min_cluster_size(self, n_points: int) -> int:
        if self.min_cluster_size is not None:
            return self.min_cluster_size
        return max(self.min_cluster_floor, int(round(self.min_cluster_scale * np.sqrt(max(n_points, 0)))))


SPECTRAL_INIT_MAX_POINTS = 50_000


def umap_start(params: ClusteringParams, n_points: int) -> str:
    if params.umap_init != "auto":
        return params.umap_init
    return "spectral" if n_points < SPECTRAL_INIT_MAX_POINTS else "pca"


@dataclass
class TwoLevelClustering:
    reduced: np.ndarray
    fine_raw: np.ndarray  # HDBSCAN labels, -1 = noise
    fine: np.ndarray  # after optional noise assignment
    coarse: np.ndarray  # coarse label of each point's fine cluster
    fine_to_coarse: dict[int, int]
    probabilities: np.ndarray
    noise_assigned: np.ndarray  # True where a noise point was given its nearest cluster
    relative_validity: float
    timings: dict[str, float] = field(default_factory=dict)
    # Rows of the points that the reduction and HDBSCAN saw (``reduced`` is theirs); None: all.
    fit_rows: np.ndarray | None = None
    # One row per distinct key (its first point); None: every point is distinct.
    distinct_rows: np.ndarray | None = None

    @property
    def n_distinct(self) -> int:
        return len(self.fine) if self.distinct_rows is None else len(self.distinct_rows)

    def fitted(self, per_point: np.ndarray) -> np.ndarray:
        """The rows of a per-point array that belong to the fitted points, aligned with ``reduced``."""
        return per_point if self.fit_rows is None else per_point[self.fit_rows]


def reduce_dimensions(vectors: np.ndarray, params: ClusteringParams) -> np.ndarray:
    """Reduce before HDBSCAN: its trees stop helping above ~50 dimensions.

    UMAP (cosine) is the default because HDBSCAN after PCA collapses on real short texts
    into a few clusters or mostly noise; PCA stays available for speed.
    """
    n = vectors.shape[0]
    n_components = min(params.n_components, vectors.shape[1], max(n - 2, 1))
    if params.reduction == "none" or n_components >= vectors.shape[1]:
        return vectors.astype(np.float32)
    if params.reduction == "pca":
        from sklearn.decomposition import PCA

        return (
            PCA(n_components=n_components, random_state=params.random_state).fit_transform(vectors).astype(np.float32)
        )
    if params.reduction == "umap":
        umap = import_umap()
        reducer = umap.UMAP(
            n_components=n_components,
            n_neighbors=min(params.umap_n_neighbors, n - 1),
            min_dist=params.umap_min_dist,
            metric="cosine",
            random_state=params.random_state,
            n_jobs=1,
            init=umap_start(params, n),
        )
        return reducer.fit_transform(vectors).astype(np.float32)
    raise ValueError(f"unknown reduction {params.reduction!r}; use 'umap', 'pca' or 'none'")


def _fit_hdbscan(reduced: np.ndarray, params: ClusteringParams):
    import hdbscan

    n = len(reduced)
    # Small inputs (a handful of users or texts) must not fail: HDBSCAN needs
    # min_samples < n and a min_cluster_size that can occur at all.
    min_cluster_size = max(2, min(params.resolved_min_cluster_size(n), n // 2))
    min_samples = None if params.min_samples is None else max(1, min(params.min_samples, n - 1))
    clusterer = hdbscan.HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        cluster_selection_method=params.fine_selection,
        gen_min_span_tree=True,
        prediction_data=True,
    )
    clusterer.fit(reduced.astype(np.float64))
    return clusterer


def centroids(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ids (sorted, noise excluded) and the mean vector of each."""
    ids = np.array(sorted(set(labels.tolist()) - {NOISE}), dtype=np.int64)
    if len(ids) == 0:
        return ids, np.zeros((0, vectors.shape[1]), dtype=np.float32)
    return ids, np.vstack([vectors[labels == i].mean(axis=0) for i in ids]).astype(np.float32)


def assign_noise_to_nearest(reduced: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Give every noise point the cluster with the nearest centroid; return labels and the flag."""
    noise = labels == NOISE
    ids, centres = centroids(reduced, labels)
    if not noise.any() or len(ids) == 0:
        return labels.copy(), np.zeros(len(labels), dtype=bool)
    distances = ((reduced[noise, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    assigned = labels.copy()
    assigned[noise] = ids[distances.argmin(axis=1)]
    return assigned, noise


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Number clusters 0..k-1 from largest to smallest (ties by first member): stable ids."""
    ids, first, counts = np.unique(labels[labels != NOISE], return_index=True, return_counts=True)
    order = sorted(range(len(ids)), key=lambda i: (-counts[i], first[i]))
    mapping = {int(ids[i]): rank for rank, i in enumerate(order)}
    return np.array([mapping.get(int(x), NOISE) for x in labels], dtype=np.int64)


def density_groups(reduced: np.ndarray, fine: np.ndarray, min_group_size: int, min_samples: int) -> dict[int, int]:
    """Coarse level read off the data: HDBSCAN (EOM) at a coarser density scale, fine clusters nested by majority.

    The same reduced points are clustered again with a minimum size several times the fine
    one, so the number of topics follows the data's density structure instead of a formula
    of the number of subtopics; each fine cluster then joins the coarse cluster that holds
    most of its points (coarse noise counted by its nearest coarse centroid), which keeps the
    two levels nested. Fewer than two coarse clusters: one topic holds everything.
    """
    import hdbscan

    ids = np.array(sorted(set(fine.tolist()) - {NOISE}), dtype=np.int64)
    if len(ids) < 3:
        return {int(i): 0 for i in ids}
    min_group_size = max(2, min(min_group_size, len(reduced) // 2))
    model = hdbscan.HDBSCAN(
        min_cluster_size=min_group_size,
        min_samples=max(1, min(min_samples, len(reduced) - 1)),
        cluster_selection_method="eom",
    )
    coarse_raw = model.fit(reduced.astype(np.float64)).labels_.astype(np.int64)
    if len(set(coarse_raw.tolist()) - {NOISE}) < 2:
        return {int(i): 0 for i in ids}
    coarse, _ = assign_noise_to_nearest(reduced, coarse_raw)
    mapping = {}
    for i in ids:
        values, counts = np.unique(coarse[fine == i], return_counts=True)
        mapping[int(i)] = int(values[counts.argmax()])
    return _number_groups(mapping, fine)


def _number_groups(mapping: dict[int, int], fine: np.ndarray) -> dict[int, int]:
    """Number coarse groups 0..k-1 by member count, largest first, for readable stable ids."""
    sizes: dict[int, int] = {}
    for f, g in mapping.items():
        sizes[g] = sizes.get(g, 0) + int((fine == f).sum())
    order = {g: rank for rank, g in enumerate(sorted(sizes, key=lambda g: (-sizes[g], g)))}
    return {f: order[g] for f, g in mapping.items()}


def _ward_tree(vectors: np.ndarray, labels: np.ndarray):
    """(fine ids, Ward linkage over their unit-normalised centroids), or the ids alone below three."""
    from scipy.cluster.hierarchy import linkage

    ids, centres = centroids(vectors, labels)
    if len(ids) < 3:
        return ids, None
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    return ids, linkage(centres / np.where(norms == 0, 1, norms), method="ward")


def _cut(tree, ids: np.ndarray, k: int) -> dict[int, int]:
    from scipy.cluster.hierarchy import fcluster

    groups = fcluster(tree, min(k, len(ids)), criterion="maxclust") - 1
    return {int(i): int(g) for i, g in zip(ids, groups)}


def group_clusters(vectors: np.ndarray, labels: np.ndarray, n_groups: int) -> dict[int, int]:
    """Coarse level of a fixed size: Ward linkage over the unit-normalised centroids of the fine clusters."""
    ids, tree = _ward_tree(vectors, labels)
    if tree is None:
        return {int(i): 0 for i in ids}
    return _number_groups(_cut(tree, ids, n_groups), labels)


def balanced_groups(vectors: np.ndarray, labels: np.ndarray, max_share: float) -> dict[int, int]:
    """Coarse level whose size follows the data without a catch-all: the Ward tree of the fine
    centroids cut at the fewest groups, from round(sqrt(fine clusters)) to twice that, whose
    largest group holds at most ``max_share`` of the points (the upper bound when none does).

    Cuts of one tree are nested, so the largest group only shrinks as groups are added."""
    ids, tree = _ward_tree(vectors, labels)
    if tree is None:
        return {int(i): 0 for i in ids}
    sizes = dict(zip(*np.unique(labels[labels != NOISE], return_counts=True)))
    total = sum(sizes.values())
    low = max(2, int(round(np.sqrt(len(ids)))))
    high = min(len(ids), max(low, int(round(2 * np.sqrt(len(ids))))))
    for k in range(low, high + 1):
        mapping = _cut(tree, ids, k)
        group_sizes: dict[int, int] = {}
        for fine_id, group in mapping.items():
            group_sizes[group] = group_sizes.get(group, 0) + int(sizes.get(fine_id, 0))
        if max(group_sizes.values()) <= max_share * total:
            break
    return _number_groups(mapping, labels)


MIN_POINTS_TO_CLUSTER = 8


def _single_cluster(vectors: np.ndarray) -> TwoLevelClustering:
    """Too few points to find structure: one cluster holding everything, honestly reported."""
    n = len(vectors)
    zeros = np.zeros(n, dtype=np.int64)
    return TwoLevelClustering(
        reduced=vectors.astype(np.float32),
        fine_raw=zeros,
        fine=zeros.copy(),
        coarse=zeros.copy(),
        fine_to_coarse={0: 0} if n else {},
        probabilities=np.ones(n, dtype=np.float32),
        noise_assigned=np.zeros(n, dtype=bool),
        relative_validity=float("nan"),
        timings={"reduce_seconds": 0.0, "hdbscan_seconds": 0.0, "grouping_seconds": 0.0},
    )


def two_level_clustering(
    vectors: np.ndarray, params: ClusteringParams, on_phase: PhaseCallback | None = None
) -> TwoLevelClustering:
    """Reduce, find fine clusters with HDBSCAN, then group them into coarse ones.

    Every fine cluster lies in exactly one coarse cluster. Noise points may be given the
    nearest fine cluster (flagged), so that every point has a place in the hierarchy.
    ``on_phase`` hears of each phase as it ends (name, seconds, counts).
    """
    on_phase = on_phase or (lambda *_: None)
    timings: dict[str, float] = {}
    if len(vectors) < MIN_POINTS_TO_CLUSTER:
        return _single_cluster(vectors)
    start = time.perf_counter()
    reduced = reduce_dimensions(vectors, params)
    timings["reduce_seconds"] = time.perf_counter() - start
    on_phase(
        "reduction",
        timings["reduce_seconds"],
        f"{len(vectors):,} points, {params.reduction} to {reduced.shape[1]} dimensions",
    )

    start = time.perf_counter()
    model = _fit_hdbscan(reduced, params)
    timings["hdbscan_seconds"] = time.perf_counter() - start
    fine_raw = _relabel_by_size(model.labels_)
    on_phase(
        "hdbscan",
        timings["hdbscan_seconds"],
        f"{len(set(fine_raw.tolist()) - {NOISE}):,} fine clusters, {(fine_raw == NOISE).mean():.1%} noise",
    )
    if params.assign_noise and not (fine_raw != NOISE).any():
        # No density structure at all (tiny or uniform data): one cluster, every point flagged.
        fine, noise_assigned = np.zeros(len(fine_raw), dtype=np.int64), np.ones(len(fine_raw), dtype=bool)
    elif params.assign_noise:
        fine, noise_assigned = assign_noise_to_nearest(reduced, fine_raw)
    else:
        fine, noise_assigned = fine_raw.copy(), np.zeros(len(fine_raw), dtype=bool)

    start = time.perf_counter()
    if params.n_coarse is not None:
        fine_to_coarse = group_clusters(vectors, fine, params.n_coarse)
    elif params.coarse_method == "ward":
        fine_to_coarse = balanced_groups(vectors, fine, params.coarse_max_share)
    else:
        fine_mcs = params.resolved_min_cluster_size(len(reduced))
        fine_to_coarse = density_groups(reduced, fine, params.coarse_size_factor * fine_mcs, fine_mcs)
    timings["grouping_seconds"] = time.perf_counter() - start
    coarse = np.array([fine_to_coarse.get(int(f), NOISE) for f in fine], dtype=np.int64)
    on_phase("grouping", timings["grouping_seconds"], f"{len(set(fine_to_coarse.values())):,} coarse clusters")
    validity = float(model.relative_validity_) if len(fine_to_coarse) > 1 else float("nan")
    return TwoLevelClustering(
        reduced=reduced,
        fine_raw=fine_raw,
        fine=fine,
        coarse=coarse,
        fine_to_coarse=fine_to_coarse,
        probabilities=model.probabilities_.astype(np.float32),
        noise_assigned=noise_assigned,
        relative_validity=validity,
        timings=timings,
    )


@dataclass(frozen=True)
class ClusterQuality:
    silhouette: float  # cosine, on the original vectors, over non-noise points
    silhouette_reduced: float  # euclidean, in the space HDBSCAN saw
    per_cluster_silhouette: dict[int, float]
    n_clusters: int
    noise_fraction: float

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}silhouette": self.silhouette,
            f"{prefix}silhouette_reduced": self.silhouette_reduced,
            f"{prefix}n_clusters": float(self.n_clusters),
            f"{prefix}noise_fraction": self.noise_fraction,
        }


def cluster_quality(
    vectors: np.ndarray,
    reduced: np.ndarray,
    labels: np.ndarray,
    sample_size: int = SILHOUETTE_SAMPLE_SIZE,
    random_state: int = RANDOM_STATE,
) -> ClusterQuality:
    """Silhouette over non-noise points (a deterministic sample when large), beside the noise share.

    Silhouette alone misleads on text (runs that throw most points away score best), so it
    is always reported with the noise fraction and the number of clusters.
    """
    from sklearn.metrics import silhouette_samples

    clustered = np.flatnonzero(labels != NOISE)
    n_clusters = len(set(labels[clustered].tolist()))
    noise_fraction = float(1.0 - len(clustered) / len(labels)) if len(labels) else 0.0
    if n_clusters < 2 or len(clustered) < 3:
        return ClusterQuality(float("nan"), float("nan"), {}, n_clusters, noise_fraction)
    if len(clustered) > sample_size:
        clustered = np.sort(np.random.default_rng(random_state).choice(clustered, size=sample_size, replace=False))
    sample_labels = labels[clustered]
    if len(set(sample_labels.tolist())) < 2:
        return ClusterQuality(float("nan"), float("nan"), {}, n_clusters, noise_fraction)
    per_point = silhouette_samples(vectors[clustered], sample_labels, metric="cosine")
    per_point_reduced = silhouette_samples(reduced[clustered], sample_labels, metric="euclidean")
    per_cluster = {int(c): float(per_point[sample_labels == c].mean()) for c in sorted(set(sample_labels.tolist()))}
    return ClusterQuality(
        silhouette=float(per_point.mean()),
        silhouette_reduced=float(per_point_reduced.mean()),
        per_cluster_silhouette=per_cluster,
        n_clusters=n_clusters,
        noise_fraction=noise_fraction,
    )


@dataclass(frozen=True)
class QualityBounds:
    """Where a clustering's quality check warns: silhouette below, or noise share above."""

    min_silhouette: float = 0.05
    max_noise_fraction: float = 0.3

    def problems(self, silhouette: float, noise_fraction: float) -> list[str]:
        found = []
        if not silhouette >= self.min_silhouette:  # also catches NaN (fewer than two clusters)
            found.append(f"silhouette {silhouette:.3f} below {self.min_silhouette}")
        if noise_fraction > self.max_noise_fraction:
            found.append(f"noise fraction {noise_fraction:.1%} above {self.max_noise_fraction:.0%}")
        return found
