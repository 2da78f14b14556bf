"""Run configuration of the clustering assets; every default comes from the core's parameter objects."""

from typing import Literal

from dagster import Config
from pydantic import Field

from interest_pipeline.core.clustering.cluster_identity import MIN_IDENTITY_SIMILARITY
from interest_pipeline.core.clustering.density_clustering import ClusteringParams, QualityBounds
from interest_pipeline.core.text.languages import MAX_UNREAD_SHARE
from interest_pipeline.defs.incremental import RebuildConfig
from interest_pipeline.defs.params import params_from_config

_PARAMS = ClusteringParams()
_BOUNDS = QualityBounds()


class ClusteringConfig(Config):
    """HDBSCAN finds fine clusters in reduced embeddings; a second, coarser HDBSCAN groups them into coarse ones.

    Defaults come from ``core.clustering.density_clustering.ClusteringParams``, the one place they are defined.
    """

    reduction: Literal["umap", "pca", "none"] = Field(
        default=_PARAMS.reduction,
        description="Reduction before HDBSCAN. UMAP (cosine) works on real text; PCA is faster but collapses on it.",
    )
    n_components: int = Field(default=_PARAMS.n_components, ge=2, le=100, description="Dimensions after reduction.")
    umap_n_neighbors: int = Field(default=_PARAMS.umap_n_neighbors, ge=2, description="UMAP neighbourhood size.")
    umap_init: Literal["auto", "spectral", "pca", "tswspectral", "random"] = Field(
        default=_PARAMS.umap_init,
        description="UMAP's starting layout; auto: spectral below 50,000 points, PCA above (the spectral start stalls on large graphs).",
    )
    min_cluster_size: int | None = Field(
        default=_PARAMS.min_cluster_size,
        ge=2,
        description="HDBSCAN min_cluster_size; empty = max(min_cluster_floor, min_cluster_scale * sqrt(distinct points fitted)).",
    )
    min_cluster_scale: float = Field(
        default=_PARAMS.min_cluster_scale,
        gt=0,
        description="Used when min_cluster_size is empty: the fine level's granularity grows with the square root of the data.",
    )
    min_cluster_floor: int = Field(
        default=_PARAMS.min_cluster_floor, ge=2, description="Smallest automatic min_cluster_size."
    )
    min_samples: int | None = Field(
        default=_PARAMS.min_samples,
        ge=1,
        description="HDBSCAN min_samples (larger = more conservative, more noise); empty = min_cluster_size.",
    )
    fine_selection: Literal["leaf", "eom"] = Field(
        default=_PARAMS.fine_selection, description="HDBSCAN cluster selection for the fine level."
    )
    n_coarse: int | None = Field(
        default=_PARAMS.n_coarse,
        ge=1,
        description="Coarse clusters (topics / segment groups) as Ward groups of the fine centroids; empty = chosen by coarse_method.",
    )
    coarse_method: Literal["ward", "density"] = Field(
        default=_PARAMS.coarse_method,
        description="With n_coarse empty: 'ward' cuts the Ward tree of the fine centroids at the fewest groups (from "
        "sqrt(fine clusters) to twice that) whose largest holds at most coarse_max_share of the points; 'density' runs a "
        "second, coarser HDBSCAN (coarse_size_factor).",
    )
    coarse_max_share: float = Field(
        default=_PARAMS.coarse_max_share,
        gt=0,
        le=1,
        description="With coarse_method 'ward': the largest share of the points one coarse group may hold.",
    )
    coarse_size_factor: int = Field(
        default=_PARAMS.coarse_size_factor,
        ge=2,
        description="Coarse HDBSCAN's min_cluster_size as a multiple of the fine one (when n_coarse is empty).",
    )
    assign_noise: bool = Field(
        default=_PARAMS.assign_noise, description="Give noise points their nearest cluster (flagged noise_assigned)."
    )
    random_state: int = Field(
        default=_PARAMS.random_state, description="Seed of the reduction and of the fit sample, for repeatable runs."
    )
    max_fit_points: int = Field(
        default=_PARAMS.max_fit_points,
        ge=100,
        description="Above this many distinct points, fit on a stratified seeded sample and assign the rest to the nearest subtopic centroid.",
    )
    identity_min_similarity: float = Field(
        default=MIN_IDENTITY_SIMILARITY,
        ge=0,
        le=1,
        description="A new cluster keeps a previous run's id when their centroids' cosine similarity reaches this.",
    )
    min_silhouette: float = Field(
        default=_BOUNDS.min_silhouette,
        ge=-1,
        le=1,
        description="Quality check: warn when the mean silhouette falls below.",
    )
    max_noise_fraction: float = Field(
        default=_BOUNDS.max_noise_fraction,
        ge=0,
        le=1,
        description="Quality check: warn when HDBSCAN leaves more of the points as noise.",
    )

    def params(self) -> ClusteringParams:
        return params_from_config(self, ClusteringParams)


class TopicsConfig(ClusteringConfig):
    center_languages: bool = Field(
        default=True,
        description="With a model that reads several languages and at least two languages each holding "
        f"{MAX_UNREAD_SHARE:.0%} of the texts: cluster the vectors with each language's mean removed, so that topics "
        "follow what the texts say rather than the language they say it in (centroids stay in the model's space).",
    )


# Segments' own min_samples, chosen on real users (MovieLens 100k ratings, Taobao shop events):
# users' vectors are weighted means of what they touched, a continuum without dense cores, where
# the topics' min_samples 5 left a quarter of them noise and one seed in three fell to 4 segments
# (interest_pipeline_tests/benchmarks/README.md, "User segments on real development sets").
SEGMENT_MIN_SAMPLES = 1


class SegmentConfig(ClusteringConfig):
    """The same clustering over fused user vectors (users are never deduplicated)."""

    min_samples: int | None = Field(
        default=SEGMENT_MIN_SAMPLES,
        ge=1,
        description="HDBSCAN min_samples for users (larger = more conservative, more noise); empty = min_cluster_size. "
        "1 by default: users' vectors form a continuum rather than dense cores.",
    )


class AssignmentConfig(RebuildConfig):
    min_similarity: float = Field(
        default=0.5,
        ge=-1,
        le=1,
        description="Cosine similarity to a subtopic centroid needed to join it; below it a new text stays noise.",
    )
