import numpy as np
import pytest

from interest_pipeline.core.clustering.agreement import agreement
from interest_pipeline.core.clustering.density_clustering import (
    NOISE,
    ClusteringParams,
    assign_noise_to_nearest,
    balanced_groups,
    cluster_quality,
    density_groups,
    group_clusters,
    reduce_dimensions,
    two_level_clustering,
    umap_start,
)


def planted_blobs(seed=0, per_blob=60, dim=32):
    """3 groups x 3 blobs on the unit sphere: blobs near their group's direction."""
    rng = np.random.default_rng(seed)
    groups = np.linalg.qr(rng.normal(size=(dim, dim)))[0][:3] * 3.0
    vectors, fine, coarse = [], [], []
    for g, centre in enumerate(groups):
        for b in range(3):
            blob_centre = centre + rng.normal(scale=1.0, size=dim)
            vectors.append(blob_centre + rng.normal(scale=0.15, size=(per_blob, dim)))
            fine += [g * 3 + b] * per_blob
            coarse += [g] * per_blob
    x = np.vstack(vectors).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.array(fine), np.array(coarse)


@pytest.mark.parametrize("reduction", ["pca", "none", "umap"])
def test_two_levels_recover_planted_blobs(reduction):
    x, fine_truth, coarse_truth = planted_blobs()
    params = ClusteringParams(
        reduction=reduction, n_components=5, umap_n_neighbors=15, min_cluster_size=20, min_samples=5, n_coarse=3
    )
    result = two_level_clustering(x, params)
    assert agreement(fine_truth, result.fine)["ari"] > 0.9
    assert agreement(coarse_truth, result.coarse)["ari"] > 0.9
    # every fine cluster sits in exactly one coarse cluster
    for f in set(result.fine.tolist()):
        assert len(set(result.coarse[result.fine == f].tolist())) == 1
    assert set(result.fine_to_coarse.values()) == {0, 1, 2}


def test_umap_start_is_spectral_for_small_inputs_and_pca_for_large_ones():
    assert umap_start(ClusteringParams(), 49_999) == "spectral"
    assert umap_start(ClusteringParams(), 50_000) == "pca"
    assert umap_start(ClusteringParams(umap_init="tswspectral"), 10) == "tswspectral"


def test_umap_with_a_pca_start_still_recovers_planted_blobs():
    x, fine_truth, _ = planted_blobs()
    params = ClusteringParams(
        umap_init="pca", n_components=5, umap_n_neighbors=15, min_cluster_size=20, min_samples=5, n_coarse=3
    )
    assert agreement(fine_truth, two_level_clustering(x, params).fine)["ari"] > 0.9


def test_clustering_is_repeatable():
    x, _, _ = planted_blobs(seed=3)
    params = ClusteringParams(reduction="umap", n_components=5, umap_n_neighbors=15, min_cluster_size=20)
    first, second = two_level_clustering(x, params), two_level_clustering(x, params)
    np.testing.assert_array_equal(first.fine, second.fine)
    np.testing.assert_array_equal(first.coarse, second.coarse)


def test_cluster_ids_are_numbered_by_size():
    x, _, _ = planted_blobs(per_blob=40)
    x = np.vstack([x, x[:40] + 1e-3])  # blob 0 twice as large
    result = two_level_clustering(x, ClusteringParams(reduction="pca", min_cluster_size=20, min_samples=5, n_coarse=3))
    sizes = np.bincount(result.fine)
    assert sizes[0] == sizes.max()


def test_noise_points_get_the_nearest_centroid_and_a_flag():
    reduced = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.1, 10.0], [9.0, 9.0], [0.5, 0.4]])
    labels = np.array([0, 0, 1, 1, NOISE, NOISE])
    assigned, flag = assign_noise_to_nearest(reduced, labels)
    assert assigned.tolist() == [0, 0, 1, 1, 1, 0]
    assert flag.tolist() == [False, False, False, False, True, True]


def test_min_cluster_size_grows_with_the_square_root_of_the_data_unless_set():
    params = ClusteringParams()
    assert params.resolved_min_cluster_size(100) == params.min_cluster_floor
    assert params.resolved_min_cluster_size(40_000) == 50
    # 100x the points: 10x the minimum size, so the fine level may hold 10x the clusters.
    assert params.resolved_min_cluster_size(4_000_000) == 500
    assert ClusteringParams(min_cluster_size=7).resolved_min_cluster_size(50_000) == 7


def test_a_fixed_number_of_groups_uses_ward_on_the_centroids():
    x, fine, coarse = planted_blobs()
    mapping = group_clusters(x, fine, n_groups=3)
    assert set(mapping) == set(range(9)) and len(set(mapping.values())) == 3
    grouped = np.array([mapping[f] for f in fine])
    assert agreement(coarse, grouped)["ari"] > 0.99


def test_the_coarse_level_is_found_in_the_data_when_not_fixed():
    # Three groups of three blobs in a low-dimensional (reduced) space, groups well apart.
    rng = np.random.default_rng(0)
    group_centres = np.array([[0, 0, 0], [12, 0, 0], [0, 12, 0]], dtype=float)
    points, fine, coarse = [], [], []
    for g, centre in enumerate(group_centres):
        for b in range(3):
            points.append(centre + rng.normal(scale=2.0, size=3) + rng.normal(scale=0.3, size=(80, 3)))
            fine += [g * 3 + b] * 80
            coarse += [g] * 80
    x, fine, coarse = np.vstack(points), np.array(fine), np.array(coarse)
    mapping = density_groups(x, fine, min_group_size=100, min_samples=10)
    grouped = np.array([mapping[f] for f in fine])
    assert len(set(mapping.values())) == 3
    assert agreement(coarse, grouped)["ari"] > 0.99


def test_quality_reports_silhouette_beside_noise_share():
    x, fine, _ = planted_blobs()
    labels = fine.copy()
    labels[::10] = NOISE
    quality = cluster_quality(x, x, labels)
    assert quality.noise_fraction == pytest.approx(0.1)
    assert quality.n_clusters == 9
    assert 0.5 < quality.silhouette <= 1.0
    assert set(quality.per_cluster_silhouette) == set(range(9))
    scrambled = cluster_quality(x, x, np.random.default_rng(0).permutation(fine))
    assert scrambled.silhouette < 0.05


def test_quality_of_a_single_cluster_is_undefined_not_an_error():
    x, _, _ = planted_blobs()
    quality = cluster_quality(x, x, np.zeros(len(x), dtype=int))
    assert np.isnan(quality.silhouette) and quality.n_clusters == 1


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="unknown reduction"):
        reduce_dimensions(np.zeros((10, 8), np.float32), ClusteringParams(reduction="tsne", n_components=2))


@pytest.mark.parametrize("n_points", [0, 1, 2, 7, 12, 25])
def test_tiny_inputs_do_not_fail(n_points):
    x, _, _ = planted_blobs(per_blob=3)
    result = two_level_clustering(x[:n_points], ClusteringParams())
    assert len(result.fine) == n_points and len(result.coarse) == n_points
    for f in set(result.fine.tolist()) - {NOISE}:
        assert f in result.fine_to_coarse


def test_data_without_structure_becomes_one_flagged_cluster():
    x = np.random.default_rng(0).normal(size=(30, 16)).astype(np.float32)
    result = two_level_clustering(x, ClusteringParams(reduction="none", min_cluster_size=25, min_samples=20))
    assert (result.fine_raw == NOISE).all()  # white noise: HDBSCAN finds nothing
    assert set(result.fine.tolist()) == {0} and result.noise_assigned.all()
    assert result.fine_to_coarse == {0: 0}


def test_the_balanced_coarse_level_has_no_catch_all_group():
    # Twelve fine clusters along a line, the first four holding most of the points: a Ward cut at
    # round(sqrt(12)) = 3 groups puts them in one group; more groups are cut until none is too large.
    rng = np.random.default_rng(0)
    sizes = [200, 200, 200, 200] + [25] * 8
    centres = np.array([[float(i), 0.0, 1.0] for i in range(12)])
    x = np.vstack([c + rng.normal(scale=0.02, size=(n, 3)) for c, n in zip(centres, sizes)])
    fine = np.repeat(np.arange(12), sizes)
    share = lambda mapping: max(np.bincount([mapping[f] for f in fine])) / len(fine)  # noqa: E731
    loose = balanced_groups(x, fine, max_share=1.0)
    assert len(set(loose.values())) == 3
    tight = balanced_groups(x, fine, max_share=0.35)
    assert share(tight) <= 0.35 < share(loose)
    assert 3 < len(set(tight.values())) <= 7  # at most twice sqrt(12), rounded
    assert balanced_groups(x[:10], fine[:10], 0.35) == {0: 0}
