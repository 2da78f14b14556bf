import numpy as np
import pytest

from interest_pipeline.core.clustering.agreement import agreement
from interest_pipeline.core.clustering.at_scale import cluster_distinct, stratified_sample
from interest_pipeline.core.clustering.density_clustering import NOISE, ClusteringParams
from interest_pipeline.core.text.near_duplicates import distinct_points, near_duplicate_key
from interest_pipeline_tests.core.clustering.test_density_clustering import planted_blobs

FAST = dict(reduction="none", min_cluster_size=20, min_samples=5, n_coarse=3)


@pytest.mark.parametrize(
    "left, right",
    [
        ("Great product, fast delivery!", "great product fast delivery 👍"),
        ("GREAT   product. Fast delivery", "Great product, fast delivery!!!"),
        ("Ｆａｓｔ delivery", "fast delivery"),
    ],
)
def test_near_duplicates_share_a_key(left, right):
    assert near_duplicate_key(left) == near_duplicate_key(right)


@pytest.mark.parametrize("left, right", [("not good", "good"), ("fast delivery", "delivery fast"), ("👍", "👎")])
def test_different_words_keep_different_keys(left, right):
    assert near_duplicate_key(left) != near_duplicate_key(right)


def test_distinct_points_group_by_first_appearance():
    distinct = distinct_points(["b", "a", "b", "c", "a"], 5)
    assert distinct.representative.tolist() == [0, 1, 3]
    assert distinct.inverse.tolist() == [0, 1, 0, 2, 1]
    assert distinct.counts.tolist() == [2, 2, 1]
    assert distinct.broadcast(np.array([10, 20, 30])).tolist() == [10, 20, 10, 30, 20]


def test_duplicates_are_clustered_once_and_share_their_texts_cluster():
    x, fine_truth, _ = planted_blobs()
    # A flood: the first point of blob 0 pasted 500 times, far more than any blob's size.
    flood = np.repeat(x[:1], 500, axis=0)
    vectors = np.vstack([x, flood])
    keys = [f"text {i}" for i in range(len(x))] + ["text 0"] * len(flood)
    result = cluster_distinct(vectors, ClusteringParams(**FAST), keys)
    assert result.n_distinct == len(x)
    assert len(result.reduced) == len(x) and sorted(result.fit_rows.tolist()) == list(range(len(x)))
    assert (result.fine[len(x) :] == result.fine[0]).all() and (result.coarse[len(x) :] == result.coarse[0]).all()
    # The flood did not become a cluster of its own: the planted structure is found as without it.
    assert len(set(result.fine_raw.tolist()) - {NOISE}) == 9
    assert agreement(fine_truth, result.fine[: len(x)])["ari"] > 0.9


def test_a_sampled_fit_places_every_point_and_keeps_the_structure():
    x, fine_truth, _ = planted_blobs(per_blob=200)
    full = cluster_distinct(x, ClusteringParams(**FAST))
    result = cluster_distinct(x, ClusteringParams(**FAST, max_fit_points=600))
    assert len(result.reduced) == 600 and len(result.fit_rows) == 600 and len(full.reduced) == len(x)
    assert len(result.fine) == len(x) and (result.fine != NOISE).all() and (result.coarse != NOISE).all()
    assert agreement(fine_truth, result.fine)["ari"] > 0.9
    # A fit on a sixth of the points groups them as the fit on all of them does.
    assert agreement(full.coarse, result.coarse)["ari"] > 0.9
    for f in set(result.fine.tolist()):  # levels stay nested
        assert len(set(result.coarse[result.fine == f].tolist())) == 1


def test_points_far_from_every_subtopic_are_flagged_as_noise_when_assigned():
    x, _, _ = planted_blobs(per_blob=200)
    rng = np.random.default_rng(1)
    outliers = rng.normal(size=(200, x.shape[1])).astype(np.float32)
    vectors = np.vstack([x, outliers / np.linalg.norm(outliers, axis=1, keepdims=True)])
    result = cluster_distinct(vectors, ClusteringParams(**FAST, max_fit_points=800))
    rest = np.setdiff1d(np.arange(len(vectors)), result.fit_rows)
    outlier_rest = rest[rest >= len(x)]
    blob_rest = rest[rest < len(x)]
    assert (result.fine_raw[outlier_rest] == NOISE).mean() > 0.8
    assert (result.fine_raw[blob_rest] == NOISE).mean() < 0.2
    assert result.noise_assigned[outlier_rest].mean() > 0.8  # flagged, and still given a subtopic
    assert (result.fine != NOISE).all()


def test_the_stratified_sample_is_seeded_and_keeps_small_groups():
    rng = np.random.default_rng(0)
    big = rng.normal(size=(5000, 8)) + 10
    small = rng.normal(size=(30, 8)) - 10
    vectors = np.vstack([big, small]).astype(np.float32)
    sample = stratified_sample(vectors, 500, seed=3)
    assert len(sample) == 500 and len(set(sample.tolist())) == 500
    assert (sample >= 5000).sum() >= 3  # proportional share would be ~3; the floor keeps at least that
    assert sample.tolist() == stratified_sample(vectors, 500, seed=3).tolist()
    assert stratified_sample(vectors, 10_000, seed=3).tolist() == list(range(len(vectors)))
