"""Item recommendations from the shipped ranker, each saying which of the user's interests it serves.

The ranker is the one the evaluation ships (:mod:`interest_pipeline.core.evaluation.layered_collaborative`),
with the settings its validation slice chose (``ShippedRankerSettings``), fitted on every event
(the evaluation fits it on the training part only). Per user, the ``top_n`` best items they have no
event on, with:

- the **interest it serves**: the item's subtopic and topic, and where that subtopic stands in the
  user's interest layers (``user_interest_layers``): ``core``, ``secondary`` or ``peripheral`` (the
  higher of the long- and short-term tiers, and which term gave it), ``new_subtopic`` (the user
  holds the topic but not this subtopic), ``new_topic`` (neither) or ``unplaced`` (the item has no
  subtopic);
- the **source** of the score: ``collaborative`` (the user's history, read by recency and mixed
  with the layers), ``layers`` (no collaborative signal: the layer ranker, interests and
  popularity) or ``popular`` (nothing placed either: the popularity prior alone);
- a readable reason, e.g. ``core interest "Space opera" (topic "Science fiction"), short term``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import polars as pl

from interest_pipeline.core.evaluation import blended_ranker as blended
from interest_pipeline.core.evaluation import collaborative
from interest_pipeline.core.evaluation import layered_collaborative as layered
from interest_pipeline.core.evaluation.layered_collaborative import ShippedRankerSettings
from interest_pipeline.core.evaluation.scoring_methods import Taxonomy
from interest_pipeline.core.features.user_features import DEFAULT_EVENT_WEIGHTS, Embeddings

TOP_N = 20
TIERS = ("core", "secondary", "peripheral")
SERVES = (*TIERS, "new_subtopic", "new_topic", "unplaced")
SOURCES = ("collaborative", "layers", "popular")
# users x items values held at once per block (float64): about 160 MB per array
BLOCK_CELLS = 20_000_000

RECOMMENDATION_SCHEMA = {
    "user_id": pl.String,
    "rank": pl.Int64,
    "item_id": pl.String,
    "score": pl.Float64,
    "subtopic_id": pl.String,
    "topic_id": pl.String,
    "serves": pl.String,
    "interest_term": pl.String,
    "source": pl.String,
    "reason": pl.String,
}


def ranked_items(
    events: pl.DataFrame,
    taxonomy: Taxonomy,
    items: Embeddings,
    settings: ShippedRankerSettings,
    top_n: int = TOP_N,
    event_weights: Mapping[str, float] = DEFAULT_EVENT_WEIGHTS,
    block_cells: int = BLOCK_CELLS,
) -> pl.DataFrame:
    """(user_id, rank, item_id, score, source): every user with an event, their ``top_n`` best items
    without an event of theirs, by the shipped ranker fitted on ``events`` as of the last event."""
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    empty = pl.DataFrame(
        schema={k: RECOMMENDATION_SCHEMA[k] for k in ("user_id", "rank", "item_id", "score", "source")}
    )
    item_ids = list(items.ids)
    if events.height == 0 or not item_ids:
        return empty
    users = sorted(set(events["user_id"].to_list()))
    reference_ts: dt.datetime = events["event_ts"].max()
    choice = settings.collaborative
    interactions = collaborative.implicit_matrix(events, users, item_ids)
    weights = collaborative.model_weights(choice.model, interactions, choice.setting)
    history = collaborative.recency_weighted_matrix(events, users, item_ids, choice.recency_half_life)
    inputs = blended.RankerInputs(events, taxonomy, items, dict(event_weights))
    item_subtopic = layered.subtopic_columns(taxonomy, item_ids)
    n = min(top_n, len(item_ids))
    frames = []
    block = max(1, block_cells // len(item_ids))
    for start in range(0, len(users), block):
        rows = np.arange(start, min(start + block, len(users)))
        block_users = [users[i] for i in rows]
        cf = collaborative.model_scores(choice.model, history[rows], weights)
        layer_scores = blended.blended_scores(inputs, block_users, reference_ts, settings.blend)
        shares = blended.subtopic_shares(inputs, block_users, reference_ts, settings.blend)
        seen = interactions[rows].toarray() > 0
        scores = layered.mix(cf, layer_scores, shares, item_subtopic, settings.layered, seen)
        scores = np.where(seen, -np.inf, scores)
        has_cf = cf.max(axis=1) > cf.min(axis=1)
        source = np.where(has_cf, "collaborative", np.where(shares.sum(axis=1) > 0, "layers", "popular"))
        best = np.argsort(-scores, axis=1, kind="stable")[:, :n]  # ties: lower item index first
        best_scores = np.take_along_axis(scores, best, axis=1)
        keep = np.isfinite(best_scores)  # a user who had every item gets fewer
        user_index, column = np.nonzero(keep)
        frames.append(
            pl.DataFrame(
                {
                    "user_id": [block_users[u] for u in user_index],
                    "rank": column + 1,
                    "item_id": [item_ids[i] for i in best[keep]],
                    "score": best_scores[keep],
                    "source": source[user_index],
                },
                schema={k: RECOMMENDATION_SCHEMA[k] for k in ("user_id", "rank", "item_id", "score", "source")},
            )
        )
    return pl.concat(frames) if frames else empty


def explain(
    ranked: pl.DataFrame, content_topics: pl.DataFrame, hierarchy: pl.DataFrame, layers: pl.DataFrame
) -> pl.DataFrame:
    """``ranked`` (from :func:`ranked_items`) with the interest each item serves (rules in the module
    docstring). ``layers``: the users' subtopic and topic rows of ``user_interest_layers`` (user_id,
    level, node_id, tier_long, tier_short)."""
    placed = content_topics.filter(pl.col("content_kind") == "item").select(
        pl.col("content_id").alias("item_id"), "subtopic_id", "topic_id"
    )
    labels = dict(hierarchy.select("node_id", "label").iter_rows())
    tier_rank = {t: i for i, t in enumerate(TIERS)}

    def held(level: str) -> pl.DataFrame:
        # the better of the long- and short-term tier, and which term gave it (long on a tie)
        rows = layers.filter(pl.col("level") == level)
        long_rank = pl.col("tier_long").replace_strict(tier_rank, default=len(TIERS), return_dtype=pl.Int64)
        short_rank = pl.col("tier_short").replace_strict(tier_rank, default=len(TIERS), return_dtype=pl.Int64)
        return rows.select(
            "user_id",
            pl.col("node_id"),
            pl.when(short_rank < long_rank).then(pl.col("tier_short")).otherwise(pl.col("tier_long")).alias("tier"),
            pl.when(short_rank < long_rank).then(pl.lit("short")).otherwise(pl.lit("long")).alias("term"),
        ).unique(["user_id", "node_id"], keep="first")

    subtopic_held = held("subtopic").rename({"node_id": "subtopic_id"})
    topic_held = held("topic").select("user_id", pl.col("node_id").alias("topic_id"), pl.lit(True).alias("topic_held"))
    joined = (
        ranked.join(placed, on="item_id", how="left")
        .join(subtopic_held, on=["user_id", "subtopic_id"], how="left")
        .join(topic_held, on=["user_id", "topic_id"], how="left")
    )
    serves = (
        pl.when(pl.col("subtopic_id").is_null())
        .then(pl.lit("unplaced"))
        .when(pl.col("tier").is_in(list(TIERS)))
        .then(pl.col("tier"))
        .when(pl.col("topic_held").fill_null(False))
        .then(pl.lit("new_subtopic"))
        .otherwise(pl.lit("new_topic"))
    )
    joined = joined.with_columns(
        serves.alias("serves"),
        pl.when(pl.col("tier").is_in(list(TIERS))).then(pl.col("term")).alias("interest_term"),
    )
    reasons = [
        _reason(serves_, labels.get(subtopic), labels.get(topic), term)
        for serves_, subtopic, topic, term in joined.select(
            "serves", "subtopic_id", "topic_id", "interest_term"
        ).iter_rows()
    ]
    return (
        joined.with_columns(pl.Series("reason", reasons, dtype=pl.String))
        .select(list(RECOMMENDATION_SCHEMA))
        .cast(RECOMMENDATION_SCHEMA)
        .sort("user_id", "rank")
    )


def _reason(serves: str, subtopic: str | None, topic: str | None, term: str | None) -> str:
    where = f'"{subtopic}" (topic "{topic}")'
    if serves in TIERS:
        return f"{serves} interest {where}, {term} term"
    if serves == "new_subtopic":
        return f'new to you within your interest "{topic}": {where}'
    if serves == "new_topic":
        return f"a new interest: {where}"
    return "an item outside the taxonomy"


def recommend(
    events: pl.DataFrame,
    taxonomy: Taxonomy,
    items: Embeddings,
    layers: pl.DataFrame,
    settings: ShippedRankerSettings,
    top_n: int = TOP_N,
    event_weights: Mapping[str, float] = DEFAULT_EVENT_WEIGHTS,
    block_cells: int = BLOCK_CELLS,
) -> pl.DataFrame:
    """:func:`ranked_items` with :func:`explain`: the table ``item_recommendations``."""
    ranked = ranked_items(events, taxonomy, items, settings, top_n, event_weights, block_cells)
    return explain(ranked, taxonomy.content_topics, taxonomy.hierarchy, layers)
