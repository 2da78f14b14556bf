import numpy as np
import pytest

from interest_pipeline.core.clustering.cluster_identity import match_clusters, parse_number, relabel, splits_and_merges

E = np.eye(4, dtype=np.float32)


def test_matched_clusters_keep_their_previous_numbers_and_new_ones_get_fresh_numbers():
    previous = {3: E[0], 7: E[1], 9: E[2]}
    current = {0: E[1] + 0.05 * E[3], 1: E[0], 2: E[3]}  # 0 ~ old 7, 1 = old 3, 2 is new
    match = match_clusters(previous, current, min_similarity=0.8)
    assert match.mapping == {0: 7, 1: 3, 2: 10}
    assert match.births == [10] and match.deaths == [9]
    assert match.matched_share(len(previous)) == pytest.approx(2 / 3)


def test_a_weak_match_is_a_birth_and_a_death():
    match = match_clusters({0: E[0]}, {0: E[0] + E[1]}, min_similarity=0.9)  # cosine 0.707
    assert match.mapping == {0: 1} and match.births == [1] and match.deaths == [0]


def test_first_run_numbers_from_zero():
    assert match_clusters({}, {0: E[0], 1: E[1]}).mapping == {0: 0, 1: 1}


def test_reserved_numbers_are_never_reissued():
    assert match_clusters({}, {0: E[0]}, reserved={0, 1, 2}).mapping == {0: 3}


def test_splits_and_merges_from_member_overlap():
    before = np.array([1, 1, 1, 1, 2, 2, 3, 3, -1])
    after = np.array([5, 5, 6, 6, 7, 7, 7, 7, 5])
    changes = splits_and_merges(before, after)
    assert changes["splits"] == [{"from": 1, "into": [5, 6]}]
    assert changes["merges"] == [{"into": 7, "from": [2, 3]}]


def test_relabel_and_parse():
    assert relabel(np.array([0, -1, 2]), {0: 4, 2: 9}).tolist() == [4, -1, 9]
    assert parse_number("t03.s012", 0) == 3 and parse_number("t03.s012", 1) == 12 and parse_number("g01.f007", 1) == 7


def test_new_points_join_the_nearest_centroid_or_stay_noise():
    from interest_pipeline.core.clustering.cluster_identity import assign_to_nearest_centroid

    centroids = np.vstack([E[0], E[1]])
    vectors = np.vstack([E[0] + 0.1 * E[2], E[1] * 3, E[2], E[0] + E[3]])
    labels, similarity = assign_to_nearest_centroid(vectors, centroids, min_similarity=0.8)
    assert labels.tolist() == [0, 1, -1, -1]
    assert (
        similarity[0] > 0.99
        and similarity[2] == pytest.approx(0.0)
        and similarity[3] == pytest.approx(0.7071, abs=1e-3)
    )
    empty, _ = assign_to_nearest_centroid(vectors, np.zeros((0, 4)), 0.5)
    assert empty.tolist() == [-1, -1, -1, -1]
