"""The blended ranker, its fallback, the recency-by-rank view and the next-interest baselines."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.evaluation.blended_ranker import (
    BlendGrid,
    BlendParams,
    RankerInputs,
    blend,
    blended_scores,
    next_interest_hits,
    next_interest_predictions,
    next_nodes,
    popularity_prior,
    tune_blended_ranker,
)
from interest_pipeline.core.evaluation.scoring_methods import RELEVANT_EVENT_TYPES, Taxonomy, popularity_scores
from interest_pipeline.core.profiles.layers import LayerParams, interest_layers
from interest_pipeline_tests.core.evaluation.test_scoring_methods import (
    CENTROIDS,
    EMBEDDED_ITEMS,
    ITEMS,
    TOPICS,
    TRAIN,
    day,
    events,
)

HIERARCHY = pl.DataFrame(
    {
        "node_id": ["t0", "t1", "t2", "t0.s0", "t1.s0", "t2.s0"],
        "level": ["topic"] * 3 + ["subtopic"] * 3,
        "parent_id": ["root"] * 3 + ["t0", "t1", "t2"],
        "label": [""] * 6,
        "centroid": [None] * 3 + [list(map(float, v)) for v in CENTROIDS.vectors],
    }
)
TAXONOMY = Taxonomy(TOPICS, HIERARCHY)


def test_a_user_without_history_gets_the_popularity_fallback():
    users = ["u1", "u2", "nobody"]
    scores = blended_scores(
        RankerInputs(TRAIN, TAXONOMY, EMBEDDED_ITEMS), users, day(4), BlendParams(popularity_weight=0.0)
    )
    popularity = popularity_scores(TRAIN, users, ITEMS)[2]
    # the fallback ranks exactly as popularity does
    assert list(np.argsort(-scores[2], kind="stable")) == list(np.argsort(-popularity, kind="stable"))
    np.testing.assert_allclose(scores[2], popularity_prior(popularity))
    # u2 (only b items) ranks by the layers at weight 0: a b item first, although c1 is the most popular
    assert ITEMS[int(np.argmax(scores[1]))].startswith("b") and ITEMS[int(np.argmax(popularity))] == "c1"


def test_the_blend_moves_from_the_layers_to_popularity():
    layers = np.array([[1.0, 0.5, 0.0], [0.0, 0.0, 0.0]])
    prior = np.array([0.0, 0.2, 1.0])
    np.testing.assert_allclose(blend(layers, prior, 0.0)[0], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(blend(layers, prior, 1.0)[0], prior)
    np.testing.assert_allclose(blend(layers, prior, 0.3)[1], prior)  # no layers: the prior alone
    with pytest.raises(ValueError, match="popularity_weight"):
        BlendParams(popularity_weight=1.5)


def test_tuning_picks_the_best_validation_setting():
    # u1 and u2 take up b items in the validation part; u3's history is c (popular)
    fit = TRAIN
    validation = events(
        [
            ("v1", "u1", "b2", "purchase", day(5)),
            ("v2", "u2", "b3", "click", day(5)),
            ("v3", "u4", "a3", "click", day(5)),
        ]
    )
    grid = BlendGrid(popularity_weights=(0.0, 0.5, 1.0), long_half_lives_days=(90.0,), event_half_lives=(1.0, 4.0))
    tuning = tune_blended_ranker(fit, validation, TAXONOMY, EMBEDDED_ITEMS, RELEVANT_EVENT_TYPES, day(5), grid)
    assert tuning.n_validation_users == 3 and len(tuning.scores) == 6
    assert tuning.best_score == max(score for _, score in tuning.scores)
    assert tuning.best in [p for p, _ in tuning.scores]


def months_apart_log():
    # four t0 events two years ago, then one t1 event months later and one t2 event months after that
    rows = [(f"o{i}", "u1", "a1", "purchase", day(i)) for i in range(4)]
    rows += [("n1", "u1", "b1", "click", day(200)), ("n2", "u1", "c1", "click", day(400))]
    return events(rows)


def test_next_interest_baselines_and_the_recent_view():
    train = months_apart_log()
    predictions = next_interest_predictions(train, TAXONOMY, day(401), "topic", event_half_life=0.5).row(0, named=True)
    assert predictions == {"user_id": "u1", "recent": "t2", "previous": "t2", "majority": "t0"}
    # a long event half-life counts all events nearly alike: the weighted majority wins
    assert next_interest_predictions(train, TAXONOMY, day(401), "topic", event_half_life=100.0)["recent"][0] == "t0"
    truth = next_nodes(
        events([("x", "u1", "b2", "view", day(402)), ("y", "u1", "b3", "purchase", day(403))]),
        TAXONOMY,
        RELEVANT_EVENT_TYPES,
        "topic",
    )
    assert truth.rows() == [("u1", "t1")]  # the view is no anchor event
    hits, n = next_interest_hits(next_interest_predictions(train, TAXONOMY, day(401), "topic", 0.5), truth)
    assert n == 1 and hits == {"recent": 0.0, "previous": 0.0, "majority": 0.0}


def test_short_term_layers_keep_the_latest_events_of_a_user_whose_events_are_years_apart():
    rows = [("u1", "view", dt.datetime(1990, 1, d + 1), "t0", "t0.s0") for d in range(5)] + [
        ("u1", "purchase", dt.datetime(1990, 9, 1), "t1", "t1.s0")
    ]
    layers = interest_layers(
        pl.DataFrame(rows, schema=["user_id", "event_type", "event_ts", "topic_id", "subtopic_id"], orient="row"),
        LayerParams(event_weights={"view": 1.0, "purchase": 5.0}),
    ).filter(pl.col("level") == "subtopic")
    # ages count from the user's latest event: thirty years later the views still have a short-term view
    assert layers["share_short"].is_not_null().all() and layers["share_short"].sum() == pytest.approx(1.0)
    assert (
        dict(zip(layers["node_id"], layers["rank_short"]))["t1.s0"] == 1
    )  # the latest interest leads the short-term view


def test_the_recent_view_weighting_is_chosen_on_validation():
    from interest_pipeline.core.evaluation.blended_ranker import EQUAL_WEIGHTS, TYPE_WEIGHTS, tune_event_half_life

    # two old purchases of t0, then three recent views of t1; the user's next event is in t1
    fit = events(
        [("p1", "u1", "a1", "purchase", day(1)), ("p2", "u1", "a2", "purchase", day(2))]
        + [(f"v{i}", "u1", "b1", "view", day(10 + i)) for i in range(3)]
    )
    validation = events([("n1", "u1", "b2", "purchase", day(20))])
    half_life, weighting, hit = tune_event_half_life(
        fit, validation, TAXONOMY, RELEVANT_EVENT_TYPES, day(19), "topic", (100.0,)
    )
    assert (half_life, weighting, hit) == (100.0, EQUAL_WEIGHTS, 1.0)
    # when the next event is in t0, the event-type weights (tried first) already hit
    validation = events([("n1", "u1", "a3", "purchase", day(20))])
    assert tune_event_half_life(fit, validation, TAXONOMY, RELEVANT_EVENT_TYPES, day(19), "topic", (100.0,))[1:] == (
        TYPE_WEIGHTS,
        1.0,
    )
