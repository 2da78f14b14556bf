"""Expansion on a time-based hold-out: do users take up the subtopics suggested to them?

Suggestions are made from train-period layers only (subtopics the user has no layer row for
before the cutoff); a suggestion is taken up when the user has a test-period interaction
mapped to that subtopic. Expansion precision is the share of a user's suggestions taken up,
averaged over the users who got at least one suggestion. Two baselines use the same
candidates: the most popular subtopics (share of train users with the subtopic as core or
secondary) and a seeded random choice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl

from interest_pipeline.core.evaluation import scoring_methods as scoring
from interest_pipeline.core.evaluation.metrics import SEED
from interest_pipeline.core.expansion.interest_expansion import ExpansionParams, expand_interests, subtopic_popularity
from interest_pipeline.core.expansion.takeup import takeup_probabilities
from interest_pipeline.core.features.user_features import UserFeatureParams, UserHistory
from interest_pipeline.core.profiles.layers import interest_layers

SUGGESTION_SCHEMA = {"user_id": pl.String, "subtopic_id": pl.String}


def taken_up(test_interactions: pl.DataFrame) -> pl.DataFrame:
    """user_id, subtopic_id pairs with a test-period interaction (rows from ``topic_interactions``)."""
    return test_interactions.filter(pl.col("subtopic_id").is_not_null()).select("user_id", "subtopic_id").unique()


def _candidates(layers: pl.DataFrame, subtopic_ids: Sequence[str], user_ids: Sequence[str]) -> pl.DataFrame:
    """Every (user, subtopic) pair where the user has no train-period layer row for the subtopic."""
    users = pl.DataFrame({"user_id": list(user_ids)}, schema={"user_id": pl.String})
    subtopics = pl.DataFrame({"subtopic_id": list(subtopic_ids)}, schema={"subtopic_id": pl.String})
    engaged = layers.filter(pl.col("level") == "subtopic").select("user_id", pl.col("node_id").alias("subtopic_id"))
    return users.join(subtopics, how="cross").join(engaged, on=["user_id", "subtopic_id"], how="anti")


def popular_suggestions(
    layers: pl.DataFrame, subtopic_ids: Sequence[str], user_ids: Sequence[str], top_n: int
) -> pl.DataFrame:
    """Per user, the ``top_n`` most popular subtopics they have not engaged with (ties by id)."""
    popularity = subtopic_popularity(layers.filter(pl.col("level") == "subtopic"))
    return (
        _candidates(layers, subtopic_ids, user_ids)
        .join(popularity, on="subtopic_id", how="left")
        .with_columns(pl.col("popularity").fill_null(0.0))
        .sort(["user_id", "popularity", "subtopic_id"], descending=[False, True, False])
        .group_by("user_id", maintain_order=True)
        .head(top_n)
        .select(list(SUGGESTION_SCHEMA))
    )


def random_suggestions(
    layers: pl.DataFrame, subtopic_ids: Sequence[str], user_ids: Sequence[str], top_n: int, seed: int = SEED
) -> pl.DataFrame:
    """Per user, ``top_n`` subtopics they have not engaged with, drawn at random (seeded)."""
    candidates = _candidates(layers, sorted(subtopic_ids), sorted(user_ids)).sort("user_id", "subtopic_id")
    draw = np.random.default_rng(seed).random(candidates.height)
    return (
        candidates.with_columns(pl.Series("_draw", draw))
        .sort("user_id", "_draw")
        .group_by("user_id", maintain_order=True)
        .head(top_n)
        .select(list(SUGGESTION_SCHEMA))
    )


def expansion_precision(suggestions: pl.DataFrame, taken: pl.DataFrame) -> tuple[float, int]:
    """Mean over users with a suggestion of (suggestions taken up / suggestions), and that user count.

    NaN when nobody got a suggestion.
    """
    if suggestions.height == 0:
        return float("nan"), 0
    hits = suggestions.select("user_id", "subtopic_id").join(
        taken.with_columns(pl.lit(1).alias("_hit")), on=["user_id", "subtopic_id"], how="left"
    )
    per_user = hits.group_by("user_id").agg((pl.col("_hit").fill_null(0).sum() / pl.len()).alias("precision"))
    return float(per_user["precision"].mean()), per_user.height


def holdout_expansion_precision(
    train: UserHistory,
    test: pl.DataFrame,
    cutoff: dt.datetime,
    taxonomy: scoring.Taxonomy,
    segments: pl.DataFrame,
    user_ids: Sequence[str],
    evaluation: scoring.EvaluationParams = scoring.EvaluationParams(),
    expansion: ExpansionParams = ExpansionParams(),
    features: UserFeatureParams = UserFeatureParams(),
) -> tuple[dict[str, tuple[float, int]], dict[str, object]]:
    """(precision, users) of the suggestions with ``expansion``'s weights, the same without the
    take-up model, and the popular and random baselines, all built from train-period data only.

    Peer groups are ``segments`` (user_id, segment: one per user, fitted on the train period);
    the take-up models learn from the window before the cutoff on the fused features built with
    ``features``; the suggestions of every user in ``segments`` are computed, those of
    ``user_ids`` scored. ``train.events`` need event_id, so that comments map to their subtopics.

    Also returns what the take-up model did (:func:`takeup_diagnostics`).
    """
    train_interactions = scoring.topic_interactions(train.events, taxonomy.content_topics)
    train_layers = interest_layers(train_interactions, evaluation.train_layers()).filter(pl.col("level") == "subtopic")
    relevant = test.filter(pl.col("event_type").is_in(list(evaluation.relevant_event_types)))
    later = taken_up(scoring.topic_interactions(relevant, taxonomy.content_topics))
    peers = segments.select(
        pl.col("user_id").cast(pl.String), pl.col("segment").cast(pl.String).alias("segment_fine")
    ).with_columns(pl.col("segment_fine").alias("segment_coarse"))
    evaluated = pl.DataFrame({"user_id": list(user_ids)}, schema={"user_id": pl.String})
    subtopic_ids = taxonomy.subtopic_ids
    takeup = takeup_probabilities(
        train,
        train_interactions,
        subtopic_ids,
        cutoff,
        features,
        dataclasses.replace(expansion.takeup, seed=evaluation.seed),
    )
    variants = {
        "interest_expansion": expansion.weights,
        "expansion_without_model": dataclasses.replace(expansion.weights, model=0.0),
    }
    top_n = evaluation.expansion_top_n
    suggestions = {
        name: expand_interests(
            train_layers,
            taxonomy.hierarchy,
            peers,
            peers.select("user_id"),
            weights=weights,
            top_n=top_n,
            min_segment_size=expansion.min_segment_size,
            takeup=takeup.signal,
        ).join(evaluated, on="user_id", how="semi")
        for name, weights in variants.items()
    }
    suggestions["popular_subtopics"] = popular_suggestions(train_layers, subtopic_ids, user_ids, top_n)
    suggestions["random_subtopics"] = random_suggestions(train_layers, subtopic_ids, user_ids, top_n, evaluation.seed)
    scores = {method: expansion_precision(rows, later) for method, rows in suggestions.items()}
    diagnostics = takeup_diagnostics(
        takeup.models, suggestions["interest_expansion"], suggestions["expansion_without_model"], expansion, user_ids
    )
    return scores, {**diagnostics, "window_days": takeup.window_days}


def takeup_diagnostics(
    models, with_model: pl.DataFrame, without_model: pl.DataFrame, expansion: ExpansionParams, user_ids: Sequence[str]
) -> dict[str, object]:
    """Whether the take-up model changed any suggestion, and if not, why.

    ``changed_user_share``: the share of the scored users whose suggested set differs with and
    without the model; ``used`` is False when no subtopic got a model (too few first-time users
    in the window) or when the model changed no suggestion.
    """

    def sets(rows: pl.DataFrame) -> dict[str, frozenset]:
        return {u: frozenset(g["subtopic_id"].to_list()) for (u,), g in rows.group_by("user_id")}

    a, b = sets(with_model), sets(without_model)
    users = list(user_ids)
    changed = sum(1 for u in users if a.get(u, frozenset()) != b.get(u, frozenset()))
    n_models = len(models.subtopic_ids)
    if n_models == 0:
        reason = (
            f"no subtopic had {expansion.takeup.min_positives} first-time users in a window of up to {expansion.takeup.max_window_days:g} days "
            "before the split: no take-up model was trained, so the model signal is 0 everywhere"
        )
    elif changed == 0:
        reason = f"{n_models} subtopics got a model, but the model signal changed no user's top {expansion.top_n}"
    else:
        reason = f"{n_models} subtopics got a model; it changed the suggestions of {changed} of {len(users)} users"
    return {
        "used": n_models > 0 and changed > 0,
        "reason": reason,
        "n_modelled_subtopics": n_models,
        "n_training_positives": int(models.n_positives.sum()) if n_models else 0,
        "changed_user_share": changed / len(users) if users else 0.0,
    }
