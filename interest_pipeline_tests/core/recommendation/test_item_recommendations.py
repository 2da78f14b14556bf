"""Item recommendations: the shipped ranker's own order, unseen items only, and the interest each serves."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.evaluation import blended_ranker as blended
from interest_pipeline.core.evaluation import collaborative
from interest_pipeline.core.evaluation import layered_collaborative as layered
from interest_pipeline.core.evaluation.collaborative import CollaborativeChoice
from interest_pipeline.core.evaluation.layered_collaborative import LayeredParams, ShippedRankerSettings
from interest_pipeline.core.evaluation.scoring_methods import Taxonomy
from interest_pipeline.core.features.user_features import DEFAULT_EVENT_WEIGHTS, Embeddings
from interest_pipeline.core.recommendation.item_recommendations import (
    RECOMMENDATION_SCHEMA,
    SERVES,
    explain,
    ranked_items,
    recommend,
)

START = dt.datetime(2026, 10, 1)
# two topics of two subtopics each, three items per subtopic; item x9 has no subtopic
SUBTOPIC_OF = {f"i{n}": f"t{n // 6}.s{(n // 3) % 2}" for n in range(12)}


def _taxonomy() -> Taxonomy:
    items = [*SUBTOPIC_OF, "x9"]
    content = pl.DataFrame(
        {
            "content_id": items,
            "content_kind": ["item"] * len(items),
            "topic_id": [SUBTOPIC_OF[i].split(".")[0] if i in SUBTOPIC_OF else None for i in items],
            "subtopic_id": [SUBTOPIC_OF.get(i) for i in items],
        }
    )
    nodes = ["t0", "t1", "t0.s0", "t0.s1", "t1.s0", "t1.s1"]
    rng = np.random.default_rng(0)
    hierarchy = pl.DataFrame(
        {
            "node_id": nodes,
            "level": ["topic"] * 2 + ["subtopic"] * 4,
            "parent_id": [None, None, "t0", "t0", "t1", "t1"],
            "label": ["Films", "Books", "Space opera", "Westerns", "Poetry", "Crime"],
            "centroid": [list(rng.random(4)) for _ in nodes],
        }
    )
    return Taxonomy(content, hierarchy)


def _items() -> Embeddings:
    ids = [*SUBTOPIC_OF, "x9"]
    return Embeddings(ids, np.random.default_rng(1).random((len(ids), 4)).astype(np.float32))


def _events() -> pl.DataFrame:
    rows = []
    rng = np.random.default_rng(2)
    # 30 users who stay within one subtopic; u-last also had item "gone" outside the catalogue
    for user in range(30):
        base = 3 * (user % 4)
        for k, offset in enumerate(rng.permutation(3)[:2]):
            rows.append((f"u{user:02d}", f"i{base + offset}", "click", START + dt.timedelta(hours=user, minutes=k)))
    rows.append(("u-outside", "gone", "click", START))  # only an item outside the catalogue
    rows.append(("u-all", "i0", "click", START))
    events = pl.DataFrame(rows, schema=["user_id", "item_id", "event_type", "event_ts"], orient="row")
    return events.with_columns(pl.format("e{}", pl.int_range(pl.len())).alias("event_id"))


SETTINGS = ShippedRankerSettings(
    blended.BlendParams(),
    CollaborativeChoice("ease", 20.0, 3.0),
    LayeredParams(layer_weight=0.2, interest_boost=1.0, subtopic_decay=0.9),
)


def test_each_user_gets_the_shipped_rankers_best_unseen_items_in_its_order():
    events, taxonomy, items = _events(), _taxonomy(), _items()
    ranked = ranked_items(events, taxonomy, items, SETTINGS, top_n=5, block_cells=40)  # blocks of 3 users
    users = sorted(set(events["user_id"].to_list()))
    assert sorted(set(ranked["user_id"].to_list())) == users
    assert ranked.group_by("user_id").len()["len"].max() == 5
    seen = set(events.select("user_id", "item_id").iter_rows())
    assert not any(pair in seen for pair in ranked.select("user_id", "item_id").iter_rows())
    # the order is the evaluation's mix of the same parts, computed here in one block
    interactions = collaborative.implicit_matrix(events, users, items.ids)
    weights = collaborative.model_weights("ease", interactions, 20.0)
    history = collaborative.recency_weighted_matrix(events, users, items.ids, 3.0)
    inputs = blended.RankerInputs(events, taxonomy, items, dict(DEFAULT_EVENT_WEIGHTS))
    reference = events["event_ts"].max()
    expected = layered.mix(
        collaborative.model_scores("ease", history, weights),
        blended.blended_scores(inputs, users, reference, SETTINGS.blend),
        blended.subtopic_shares(inputs, users, reference, SETTINGS.blend),
        layered.subtopic_columns(taxonomy, items.ids),
        SETTINGS.layered,
        interactions.toarray() > 0,
    )
    for row, user in enumerate(users):
        mine = ranked.filter(pl.col("user_id") == user).sort("rank")
        order = [
            items.ids[i]
            for i in np.argsort(-np.where(interactions[row].toarray()[0] > 0, -np.inf, expected[row]), kind="stable")
        ]
        assert mine["item_id"].to_list() == order[:5]
        assert mine["score"].to_list() == pytest.approx(expected[row, [items.ids.index(i) for i in order[:5]]])


def test_the_source_says_what_the_score_rests_on():
    ranked = ranked_items(_events(), _taxonomy(), _items(), SETTINGS, top_n=3)
    source = dict(ranked.select("user_id", "source").unique().iter_rows())
    assert source["u00"] == "collaborative"
    # no item of the catalogue: no collaborative signal and nothing placed in the taxonomy
    assert source["u-outside"] == "popular"


def test_a_user_who_had_every_item_gets_none_and_top_n_is_checked():
    events = pl.DataFrame(
        {
            "event_id": ["e0", "e1"],
            "user_id": ["u", "v"],
            "item_id": ["a", "a"],
            "event_type": ["click", "click"],
            "event_ts": [START, START],
        }
    )
    items = Embeddings(["a", "b"], np.eye(2, dtype=np.float32))
    taxonomy = Taxonomy(
        pl.DataFrame(
            schema={"content_id": pl.String, "content_kind": pl.String, "topic_id": pl.String, "subtopic_id": pl.String}
        ),
        pl.DataFrame(
            schema={
                "node_id": pl.String,
                "level": pl.String,
                "parent_id": pl.String,
                "label": pl.String,
                "centroid": pl.List(pl.Float64),
            }
        ),
    )
    single = Embeddings(["a"], np.eye(1, dtype=np.float32))
    assert ranked_items(events, taxonomy, single, SETTINGS).height == 0
    assert ranked_items(events, taxonomy, items, SETTINGS)["item_id"].to_list() == ["b", "b"]
    with pytest.raises(ValueError, match="top_n"):
        ranked_items(events, taxonomy, items, SETTINGS, top_n=0)


def test_every_recommendation_says_which_interest_it_serves():
    ranked = pl.DataFrame(
        {
            "user_id": ["u"] * 6,
            "rank": [1, 2, 3, 4, 5, 6],
            "item_id": ["i0", "i3", "i6", "i9", "x9", "i1"],
            "score": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
            "source": ["collaborative"] * 6,
        }
    )
    layers = pl.DataFrame(
        {
            "user_id": ["u"] * 4,
            "level": ["topic", "subtopic", "subtopic", "subtopic"],
            "node_id": ["t0", "t0.s0", "t1.s1", "t9.s9"],
            "tier_long": ["core", "peripheral", "secondary", "core"],
            "tier_short": ["core", "core", None, None],
        }
    )
    taxonomy = _taxonomy()
    explained = explain(ranked, taxonomy.content_topics, taxonomy.hierarchy, layers)
    assert explained.columns == list(RECOMMENDATION_SCHEMA) and explained["rank"].to_list() == [1, 2, 3, 4, 5, 6]
    rows = {r["item_id"]: r for r in explained.iter_rows(named=True)}
    # t0.s0 is peripheral in the long term but core in the short term: the higher tier, and its term
    assert (rows["i0"]["serves"], rows["i0"]["interest_term"]) == ("core", "short")
    assert rows["i0"]["reason"] == 'core interest "Space opera" (topic "Films"), short term'
    assert rows["i1"]["serves"] == "core"  # same subtopic, same answer
    # t0.s1: the user holds its topic t0, not the subtopic
    assert (rows["i3"]["serves"], rows["i3"]["interest_term"]) == ("new_subtopic", None)
    assert rows["i3"]["reason"] == 'new to you within your interest "Films": "Westerns" (topic "Films")'
    # t1.s0: neither the subtopic nor its topic
    assert rows["i6"]["serves"] == "new_topic" and rows["i6"]["subtopic_id"] == "t1.s0"
    assert (rows["i9"]["serves"], rows["i9"]["interest_term"]) == ("secondary", "long")
    assert rows["x9"]["serves"] == "unplaced" and rows["x9"]["subtopic_id"] is None
    assert set(explained["serves"]) <= set(SERVES)


def test_recommend_is_ranking_then_explaining_and_gives_the_same_table_twice():
    events, taxonomy, items = _events(), _taxonomy(), _items()
    layers = pl.DataFrame(
        {"user_id": ["u00"], "level": ["subtopic"], "node_id": ["t0.s0"], "tier_long": ["core"], "tier_short": ["core"]}
    )
    table = recommend(events, taxonomy, items, layers, SETTINGS, top_n=4)
    assert table.equals(recommend(events, taxonomy, items, layers, SETTINGS, top_n=4))
    # u00 had two of the three items of t0.s0: the third comes first, as their core interest
    first = table.filter((pl.col("user_id") == "u00") & (pl.col("rank") == 1)).row(0, named=True)
    assert (first["subtopic_id"], first["serves"], first["interest_term"]) == ("t0.s0", "core", "long")
    assert table.height == len(set(events["user_id"])) * 4
