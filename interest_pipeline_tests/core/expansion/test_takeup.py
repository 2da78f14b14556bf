"""Take-up models: labels from two windows, one logistic regression per subtopic, and the expansion signal."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.expansion.interest_expansion import ExpansionWeights, expand_interests
from interest_pipeline.core.expansion.takeup import TakeupParams, first_takeups, fit_takeup_models, takeup_probabilities
from interest_pipeline.core.features.user_features import (
    BehaviorParams,
    Embeddings,
    FusionParams,
    TextEmbeddings,
    TextParams,
    UserFeatureParams,
    UserHistory,
    fused_vectors,
)

SPLIT = dt.datetime(2026, 10, 20)


def interactions(rows):
    return pl.DataFrame(
        rows, schema={"user_id": pl.String, "event_ts": pl.Datetime("us"), "subtopic_id": pl.String}, orient="row"
    )


def test_first_takeups_split_pairs_by_their_first_interaction():
    before, after = first_takeups(
        interactions(
            [
                ("u", SPLIT - dt.timedelta(days=1), "a"),
                ("u", SPLIT, "a"),
                ("u", SPLIT, "b"),
                ("v", SPLIT + dt.timedelta(hours=1), "b"),
            ]
        ),
        SPLIT,
    )
    assert before.rows() == [("u", "a")]
    assert sorted(after.rows()) == [("u", "b"), ("v", "b")]


def test_models_learn_who_takes_a_subtopic_up_and_skip_thin_ones():
    rng = np.random.default_rng(0)
    n = 400
    users = [f"u{i:03d}" for i in range(n)]
    features = rng.normal(size=(n, 8))
    # users with a positive first feature take up "a" after the split; "thin" has two takers
    rows = [(u, SPLIT + dt.timedelta(days=1), "a") for u, x in zip(users, features) if x[0] > 0.5]
    rows += [(users[0], SPLIT + dt.timedelta(days=1), "thin"), (users[1], SPLIT + dt.timedelta(days=2), "thin")]
    rows += [(u, SPLIT - dt.timedelta(days=3), "a") for u in users[:20]]  # had "a" already: not in a's training rows
    models = fit_takeup_models(users, features, interactions(rows), SPLIT, ["a", "thin"], TakeupParams(min_positives=5))
    assert models.subtopic_ids == ["a"] and models.n_train_users == n
    takers = np.array([x[0] > 0.5 for x in features[20:]])
    assert models.n_positives[0] == takers.sum()
    probability = models.predict(features)[:, 0]
    assert probability[20:][takers].mean() > 0.5 > probability[20:][~takers].mean()
    sampled = fit_takeup_models(
        users, features, interactions(rows), SPLIT, ["a"], TakeupParams(max_train_users=100, seed=1)
    )
    assert sampled.n_train_users == 100


def test_fused_features_cover_users_with_either_side():
    items = ["i1", "i2"]
    item_vectors = np.array([[1.0, 0.0], [0.0, 1.0]])
    events = pl.DataFrame(
        {
            "user_id": ["a", "a"],
            "item_id": ["i1", None],
            "event_type": ["purchase", "search"],
            "event_ts": [SPLIT, SPLIT],
        },
        schema={"user_id": pl.String, "item_id": pl.String, "event_type": pl.String, "event_ts": pl.Datetime("us")},
    )
    comments = pl.DataFrame(
        {"user_id": ["b"], "event_ts": [SPLIT]}, schema={"user_id": pl.String, "event_ts": pl.Datetime("us")}
    )
    users, vectors = fused_vectors(
        UserHistory(events, TextEmbeddings(comments, np.array([[0.0, 1.0]])), Embeddings(items, item_vectors))
    )
    assert users == ["a", "b"]
    assert np.allclose(vectors, [[1.0, 0.0], [0.0, 1.0]])


def test_fused_vectors_follow_every_feature_parameter():
    """Alpha, both half-lives and the event weights each change the rebuilt fused vector."""
    items = Embeddings(["i1", "i2"], np.array([[1.0, 0.0], [0.0, 1.0]]))
    events = pl.DataFrame(
        {
            "user_id": ["a", "a"],
            "item_id": ["i1", "i2"],
            "event_type": ["purchase", "view"],
            "event_ts": [SPLIT - dt.timedelta(days=20), SPLIT],
        },
        schema={"user_id": pl.String, "item_id": pl.String, "event_type": pl.String, "event_ts": pl.Datetime("us")},
    )
    comments = pl.DataFrame(
        {"user_id": ["a", "a"], "event_ts": [SPLIT - dt.timedelta(days=20), SPLIT]},
        schema={"user_id": pl.String, "event_ts": pl.Datetime("us")},
    )
    history = UserHistory(events, TextEmbeddings(comments, np.array([[1.0, 0.0], [0.0, 1.0]])), items)
    _, base = fused_vectors(history)
    variants = [
        UserFeatureParams(fusion=FusionParams(alpha=0.2)),
        UserFeatureParams(behavior=BehaviorParams(half_life_days=5.0)),
        UserFeatureParams(text=TextParams(half_life_days=5.0)),
        UserFeatureParams(behavior=BehaviorParams(event_weights={"purchase": 1.0, "view": 1.0})),
    ]
    for params in variants:
        _, changed = fused_vectors(history, params)
        assert not np.allclose(changed, base), params


def _one_topic_three_subtopics() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "node_id": ["t0", "t0.s0", "t0.s1", "t0.s2"],
            "level": ["topic", "subtopic", "subtopic", "subtopic"],
            "parent_id": ["root", "t0", "t0", "t0"],
            "label": ["", "", "", ""],
            "centroid": [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.7, 0.7]],
        }
    )


def test_model_signal_ranks_the_likeliest_candidate_first():
    hierarchy = _one_topic_three_subtopics()
    layers = pl.DataFrame(
        {"user_id": ["u"], "level": ["subtopic"], "node_id": ["t0.s0"], "share_long": [1.0], "tier_long": ["core"]}
    )
    takeup = (["u"], ["t0.s1", "t0.s2", "t0.s0"], np.array([[0.30, 0.10, 0.99]]))
    only_model = expand_interests(layers, hierarchy, weights=ExpansionWeights(0, 0, 0, 1), takeup=takeup)
    assert only_model["subtopic_id"].to_list() == ["t0.s1", "t0.s2"]  # t0.s0 is engaged: never suggested
    assert only_model["model_signal"].to_list() == pytest.approx([1.0, 1 / 3])
    assert only_model["takeup_probability"].to_list() == pytest.approx([0.30, 0.10])
    assert only_model["strongest_signal"].to_list() == ["model", "model"] and "odds" in only_model["reason"][0]
    without = expand_interests(layers, hierarchy)
    assert without["takeup_probability"].is_null().all() and (without["model_signal"] == 0).all()


def test_model_signal_does_not_depend_on_the_order_or_the_extra_users_of_the_probabilities():
    """Probabilities for every user in user order take a fast path; any other order, a missing or
    an unknown user, the general one: the suggestions are the same."""
    hierarchy = _one_topic_three_subtopics()
    users = ["a", "b", "c"]
    layers = pl.DataFrame(
        {
            "user_id": users,
            "level": ["subtopic"] * 3,
            "node_id": ["t0.s0"] * 3,
            "share_long": [1.0] * 3,
            "tier_long": ["core"] * 3,
        }
    )
    probabilities = np.array([[0.3, 0.1], [0.2, 0.6], [0.05, 0.4]])
    in_order = expand_interests(
        layers, hierarchy, weights=ExpansionWeights(0, 0, 0, 1), takeup=(users, ["t0.s1", "t0.s2"], probabilities)
    )
    shuffled = expand_interests(
        layers,
        hierarchy,
        weights=ExpansionWeights(0, 0, 0, 1),
        takeup=(["c", "zz", "a", "b"], ["t0.s2", "t0.s1"], np.array([[0.4, 0.05], [0.9, 0.9], [0.1, 0.3], [0.6, 0.2]])),
    )
    assert in_order.equals(shuffled)
    assert in_order.filter(pl.col("rank") == 1)["subtopic_id"].to_list() == ["t0.s1", "t0.s2", "t0.s2"]
    missing = expand_interests(
        layers,
        hierarchy,
        weights=ExpansionWeights(0, 0, 0, 1),
        takeup=(["a", "b"], ["t0.s1", "t0.s2"], probabilities[:2]),
    )
    assert missing.filter(pl.col("user_id") == "c").is_empty()  # no odds, no positive score
    assert missing.filter(pl.col("user_id") != "c").equals(in_order.filter(pl.col("user_id") != "c"))


def test_takeup_probabilities_learn_from_the_window_before_the_reference():
    rng = np.random.default_rng(1)
    reference = SPLIT + dt.timedelta(days=7)
    items = [f"i{k}" for k in range(4)]
    item_vectors = np.eye(4)
    rows, taken = [], []
    for n in range(300):
        user, liked = f"u{n:03d}", items[n % 2]  # half like i0, half i1, before the window
        rows.append((user, liked, "purchase", SPLIT - dt.timedelta(days=3)))
        if n % 2 == 0 and rng.random() < 0.6:  # i0 people take up subtopic "b" in the window
            taken.append((user, SPLIT + dt.timedelta(days=2), "b"))
    events = pl.DataFrame(
        rows,
        schema={"user_id": pl.String, "item_id": pl.String, "event_type": pl.String, "event_ts": pl.Datetime("us")},
        orient="row",
    )
    no_comments = TextEmbeddings(
        pl.DataFrame(schema={"user_id": pl.String, "event_ts": pl.Datetime("us")}), np.zeros((0, 4))
    )
    history = UserHistory(events, no_comments, Embeddings(items, item_vectors))
    takeup = takeup_probabilities(history, interactions(taken), ["b"], reference, params=TakeupParams(window_days=7))
    users, models, probability = takeup.user_ids, takeup.models, takeup.probabilities
    assert models.subtopic_ids == ["b"] and len(users) == 300
    i0_people = np.array([int(u[1:]) % 2 == 0 for u in users])
    assert probability[i0_people, 0].mean() > 0.4 > 0.2 > probability[~i0_people, 0].mean()
    with pytest.raises(ValueError, match="window_days"):
        TakeupParams(window_days=0)


def test_the_window_widens_until_a_subtopic_has_enough_first_time_users():
    reference = SPLIT + dt.timedelta(days=7)
    items = ["i0", "i1"]
    rows, taken = [], []
    for n in range(60):
        user = f"u{n:02d}"
        rows.append((user, items[n % 2], "purchase", SPLIT - dt.timedelta(days=60)))
        if n % 2 == 0 and n < 20:  # ten i0 people take up "b" 20 to 29 days before the reference: outside a week
            taken.append((user, reference - dt.timedelta(days=20 + n // 2), "b"))
    events = pl.DataFrame(
        rows,
        schema={"user_id": pl.String, "item_id": pl.String, "event_type": pl.String, "event_ts": pl.Datetime("us")},
        orient="row",
    )
    no_comments = TextEmbeddings(
        pl.DataFrame(schema={"user_id": pl.String, "event_ts": pl.Datetime("us")}), np.zeros((0, 2))
    )
    history = UserHistory(events, no_comments, Embeddings(items, np.eye(2)))
    widened = takeup_probabilities(
        history, interactions(taken), ["b"], reference, params=TakeupParams(window_days=7, max_window_days=56)
    )
    assert widened.window_days == 28 and widened.models.subtopic_ids == ["b"]
    fixed = takeup_probabilities(
        history, interactions(taken), ["b"], reference, params=TakeupParams(window_days=7, max_window_days=7)
    )
    assert fixed.window_days == 7 and fixed.models.subtopic_ids == []
    with pytest.raises(ValueError, match="max_window_days"):
        TakeupParams(window_days=7, max_window_days=3)
