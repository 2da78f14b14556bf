import datetime as dt

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.evaluation.scoring_methods import (
    RELEVANT_EVENT_TYPES,
    EvaluationParams,
    cutoff_at_fraction,
    interaction_matrix,
    interest_layer_scores,
    kmeans_segment_scores,
    mean_embedding_scores,
    popularity_scores,
    random_scores,
    sample_users,
    split_by_cutoff,
)
from interest_pipeline.core.features.user_features import BehaviorParams, Embeddings, TextEmbeddings, UserHistory

T0 = dt.datetime(2026, 1, 1)


def events(rows):
    return pl.DataFrame(
        rows,
        schema={
            "event_id": pl.String,
            "user_id": pl.String,
            "item_id": pl.String,
            "event_type": pl.String,
            "event_ts": pl.Datetime("us"),
        },
        orient="row",
    )


def day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


# Two interests in a 3-d space: items a* point along x, b* along y, c along z.
ITEMS = ["a1", "a2", "a3", "b1", "b2", "b3", "c1"]
VECTORS = np.array(
    [[1, 0.1, 0], [1, 0, 0.1], [1, 0.05, 0.05], [0.1, 1, 0], [0, 1, 0.1], [0.05, 1, 0.05], [0, 0, 1]], dtype=np.float32
)
TOPICS = pl.DataFrame(
    {
        "content_id": ITEMS + ["r1"],
        "content_kind": ["item"] * 7 + ["comment"],
        "topic_id": ["t0", "t0", "t0", "t1", "t1", "t1", "t2", "t1"],
        "subtopic_id": ["t0.s0", "t0.s0", "t0.s0", "t1.s0", "t1.s0", "t1.s0", "t2.s0", "t1.s0"],
    }
)
CENTROIDS = Embeddings(["t0.s0", "t1.s0", "t2.s0"], np.eye(3, dtype=np.float32))
EMBEDDED_ITEMS = Embeddings(ITEMS, VECTORS)
HALF_LIFE_90 = BehaviorParams(half_life_days=90.0)

TRAIN = events(
    [
        # u1 likes both a and b (more a); u2 only b; u3 popular c item
        ("e1", "u1", "a1", "purchase", day(1)),
        ("e2", "u1", "a2", "click", day(2)),
        ("e3", "u1", "b1", "click", day(3)),
        ("e4", "u2", "b1", "purchase", day(1)),
        ("e5", "u2", "b2", "view", day(2)),
        ("e6", "u3", "c1", "purchase", day(1)),
        ("e7", "u4", "c1", "purchase", day(2)),
        ("e8", "u4", "c1", "click", day(3)),
        ("r1", "u2", None, "search", day(3)),
    ]
)


def test_split_and_cutoff():
    test = events([("e9", "u1", "a3", "click", day(9)), ("e10", "u2", "b3", "view", day(8))])
    everything = pl.concat([TRAIN, test])
    cutoff = cutoff_at_fraction(everything, 0.5)
    assert cutoff == day(5)
    train, held = split_by_cutoff(everything, cutoff)
    assert train.height == TRAIN.height and held.height == 2
    assert (train["event_ts"] < cutoff).all() and (held["event_ts"] >= cutoff).all()
    # an event exactly at the cutoff belongs to the test period
    _, at = split_by_cutoff(events([("x", "u1", "a1", "click", day(5))]), day(5))
    assert at.height == 1
    with pytest.raises(ValueError):
        cutoff_at_fraction(everything, 1.0)


def test_relevance_leaves_views_out_and_exclusion_keeps_them():
    test = events(
        [
            ("e9", "u1", "a3", "click", day(9)),
            ("e10", "u2", "b3", "view", day(8)),
            ("e11", "u2", None, "search", day(8)),
        ]
    )
    users = ["u1", "u2"]
    relevant = interaction_matrix(test, users, ITEMS, RELEVANT_EVENT_TYPES)
    assert relevant[0, ITEMS.index("a3")] and relevant.sum() == 1
    exclude = interaction_matrix(TRAIN, users, ITEMS)
    assert exclude[1, ITEMS.index("b2")]  # a train view excludes the item
    assert exclude.sum() == 5


def test_popularity_and_random():
    users = ["u1", "u2"]
    scores = popularity_scores(TRAIN, users, ITEMS)
    assert scores.shape == (2, 7)
    assert np.array_equal(scores[0], scores[1])
    assert scores[0, ITEMS.index("c1")] == 6 + 6 + 2 and scores[0, ITEMS.index("a3")] == 0
    assert np.array_equal(random_scores(2, 7, seed=1), random_scores(2, 7, seed=1))
    assert not np.array_equal(random_scores(2, 7, seed=1), random_scores(2, 7, seed=2))


def test_mean_embedding_scores_follow_the_user_vector():
    scores = mean_embedding_scores(TRAIN, ["u2", "nobody"], EMBEDDED_ITEMS, HALF_LIFE_90)
    assert scores.shape == (2, 7)
    assert np.argmax(scores[0]) in {ITEMS.index(i) for i in ("b1", "b2", "b3")}
    assert np.all(scores[1] == 0)


def test_interest_layer_scores_keep_each_interest():
    users = ["u1", "u2", "nobody"]
    scores = interest_layer_scores(TRAIN, TOPICS, CENTROIDS, users, EMBEDDED_ITEMS)
    assert scores.shape == (3, 7)
    u1 = scores[0]
    # u1's a-interest is larger than the b one: a items first, then b items, c last
    a = [u1[ITEMS.index(i)] for i in ("a1", "a2", "a3")]
    b = [u1[ITEMS.index(i)] for i in ("b1", "b2", "b3")]
    assert min(a) > max(b) > u1[ITEMS.index("c1")]
    # a b item still scores by the b interest alone, not by a mean of a and b
    layers_b_share = b[2] / (1 / np.linalg.norm(VECTORS[5]) + 0.1)
    assert 0.1 < layers_b_share < 0.5
    # u2's comment (r1, subtopic t1.s0) counts too; everything of u2 is in the b interest
    assert np.argmax(scores[1]) in {ITEMS.index(i) for i in ("b1", "b2", "b3")}
    assert scores[1, ITEMS.index("b3")] == pytest.approx(0.995 + 0.1, abs=0.01)
    assert np.all(scores[2] == 0)


def test_interest_layer_scores_differ_from_a_single_averaged_vector():
    # a user with two equal, opposite interests: the average sits between them
    train = events([("x1", "u", "a1", "purchase", day(1)), ("x2", "u", "b1", "purchase", day(1))])
    layered = interest_layer_scores(train, TOPICS, CENTROIDS, ["u"], EMBEDDED_ITEMS, membership_bonus=0.0)[0]
    assert layered[ITEMS.index("a3")] == pytest.approx(0.5 * VECTORS[2, 0] / np.linalg.norm(VECTORS[2]), rel=1e-4)


def test_kmeans_segments_score_by_segment_popularity():
    comments = pl.DataFrame(
        {"user_id": ["u2"], "event_ts": [day(3)]}, schema={"user_id": pl.String, "event_ts": pl.Datetime("us")}
    )
    comment_vectors = np.array([[0, 1, 0]], dtype=np.float32)
    users = ["u1", "u2", "u3", "u4"]
    history = UserHistory(TRAIN, TextEmbeddings(comments, comment_vectors), EMBEDDED_ITEMS)
    # ten starts: one k-means++ start on four points can settle in the split {u1, u3, u4} / {u2}
    scores, segments = kmeans_segment_scores(history, users, n_clusters=2, behavior=HALF_LIFE_90, seed=0, restarts=10)
    assert scores.shape == (4, 7) and segments.shape == (4,)
    # u3 and u4 only touched c1: same segment, and c1 is its most popular item
    assert segments[2] == segments[3]
    assert np.argmax(scores[2]) == ITEMS.index("c1")
    assert segments[0] != segments[2]
    again, _ = kmeans_segment_scores(history, users, n_clusters=2, behavior=HALF_LIFE_90, seed=0, restarts=10)
    assert np.array_equal(scores, again)
    subset, _ = kmeans_segment_scores(
        history, users, n_clusters=2, behavior=HALF_LIFE_90, seed=0, score_user_ids=["u4", "u1"], restarts=10
    )
    assert np.array_equal(subset, scores[[3, 0]])


@pytest.mark.parametrize("restarts", [1, 5])
def test_kmeans_segments_are_seeded_for_any_number_of_restarts(restarts):
    history = UserHistory(
        TRAIN,
        TextEmbeddings(
            pl.DataFrame(schema={"user_id": pl.String, "event_ts": pl.Datetime("us")}), np.zeros((0, 3), np.float32)
        ),
        EMBEDDED_ITEMS,
    )
    users = ["u1", "u2", "u3", "u4"]
    scores, segments = kmeans_segment_scores(
        history, users, n_clusters=2, behavior=HALF_LIFE_90, seed=3, restarts=restarts
    )
    again, same_segments = kmeans_segment_scores(
        history, users, n_clusters=2, behavior=HALF_LIFE_90, seed=3, restarts=restarts
    )
    assert np.array_equal(scores, again) and np.array_equal(segments, same_segments)
    assert segments[2] == segments[3]  # the same history, so the same segment


def test_kmeans_starts_are_compared_on_a_sample_only_above_its_size(monkeypatch):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from interest_pipeline.core.evaluation import scoring_methods as scoring

    rng = np.random.default_rng(0)
    centres = np.array([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    truth = np.repeat(np.arange(3), 100)
    features = centres[truth] + rng.normal(scale=0.5, size=(300, 3))
    # up to the sample size: scikit-learn's n_init as it is
    assert np.array_equal(
        scoring.kmeans_segments(features, 3, 4, seed=2),
        KMeans(n_clusters=3, n_init=4, random_state=2).fit_predict(features),
    )
    monkeypatch.setattr(scoring, "KMEANS_START_SAMPLE", 60)
    sampled = scoring.kmeans_segments(features, 3, 4, seed=2)
    assert adjusted_rand_score(truth, sampled) == 1.0  # the sample's best start finds every blob
    assert np.array_equal(sampled, scoring.kmeans_segments(features, 3, 4, seed=2))


def test_evaluation_needs_at_least_one_kmeans_start():
    with pytest.raises(ValueError, match="kmeans_restarts"):
        EvaluationParams(kmeans_restarts=0)


def test_sample_users_is_seeded_sorted_and_only_limits_when_needed():
    users = [f"u{i:03d}" for i in range(100)]
    assert sample_users(reversed(users), 0) == users
    assert sample_users(users, 200) == users
    sample = sample_users(users, 10, seed=3)
    assert len(sample) == 10 and sample == sorted(sample) and set(sample) <= set(users)
    assert sample == sample_users(list(reversed(users)), 10, seed=3)
    assert sample != sample_users(users, 10, seed=4)
