"""The hold-out evaluation end to end: split at a cutoff, build every method from the train period,
rank, and score the rankings and the expansion suggestions.

Items are ranked for each user among all items with an embedding; an item is relevant when the
user has a test-period event of ``relevant_event_types`` on it, and items the user touched (any
event, views included) before the cutoff are no candidates. Metrics average over the users with
at least one relevant candidate. Where the test period holds impressions (a user's simultaneous
views and clicks, as MIND imports write them), each method also ranks every impression's
candidates (:mod:`interest_pipeline.core.impressions`). Expansion precision scores the
suggestions made from train-period layers (:mod:`interest_pipeline.core.expansion_holdout`).

Known leakage, so read the numbers as optimistic for the taxonomy-based methods:

- the taxonomy was clustered on all content, comments written after the cutoff included, so
  subtopic boundaries and centroids have seen test-period texts; item-to-subtopic assignments
  are content-only but come from that same clustering;
- item embeddings depend on the item texts only (no behaviour), so they leak nothing;
- the number of K-Means segments is the number of topics of that same taxonomy.

The K-Means baseline is fitted on every user active in the train period; the other methods need
no fitting across users.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from interest_pipeline.core import holdout
from interest_pipeline.core.expansion import ExpansionParams
from interest_pipeline.core.expansion_holdout import holdout_expansion_precision
from interest_pipeline.core.features import DEFAULT_EVENT_WEIGHTS, Embeddings, TextEmbeddings, UserFeatureParams, UserHistory
from interest_pipeline.core.holdout import EvaluationParams, Taxonomy
from interest_pipeline.core.impressions import IMPRESSION_METRICS, impression_metrics, impressions_from_events
from interest_pipeline.core.ranking import evaluate_rankings, metric_names, users_evaluated

METHODS: tuple[str, ...] = ("interest_layers", "mean_embedding", "kmeans_segments", "popularity", "random")
EXPANSION_METHODS: tuple[str, ...] = ("interest_expansion", "expansion_without_model", "popular_subtopics", "random_subtopics")
EXPANSION_METRIC = "expansion_precision"
IMPRESSION_PREFIX = "impression_"  # impression_auc, impression_mrr, impression_ndcg@5, impression_ndcg@10


@dataclass(frozen=True)
class HoldoutData:
    """Everything the evaluation reads: events (event_id, user_id, item_id, event_type, event_ts),
    the users' texts, the items' embeddings and the taxonomy."""

    events: pl.DataFrame
    texts: TextEmbeddings
    items: Embeddings
    taxonomy: Taxonomy


@dataclass(frozen=True)
class HoldoutResult:
    cutoff: dt.datetime
    metrics: list[str]  # metric names, in table order
    rankings: dict[str, dict[str, float]]  # method -> metric -> value
    expansion: dict[str, tuple[float, int]]  # method -> (expansion precision, users)
    n_users_scored: int
    n_test_users: int
    n_impressions: int
    n_items: int
    n_train_events: int
    n_test_events: int
    n_kmeans_segments: int

    def table(self) -> pl.DataFrame:
        """The long table: method, metric, value, cutoff, n_users_scored."""
        return pl.DataFrame(
            [(m, k, self.rankings[m][k]) for m in METHODS for k in self.metrics]
            + [(m, EXPANSION_METRIC, self.expansion[m][0]) for m in EXPANSION_METHODS],
            schema={"method": pl.String, "metric": pl.String, "value": pl.Float64},
            orient="row",
        ).with_columns(
            pl.lit(self.cutoff, dtype=pl.Datetime("us")).alias("cutoff"), pl.lit(self.n_users_scored, dtype=pl.Int64).alias("n_users_scored")
        )

    def wide(self) -> pl.DataFrame:
        """One row per ranking method, one column per metric, rounded for display."""
        return pl.DataFrame([{"method": m, **{k: round(self.rankings[m][k], 4) for k in self.metrics}} for m in METHODS])


def resolve_cutoff(params: EvaluationParams, events: pl.DataFrame) -> dt.datetime:
    return params.cutoff if params.cutoff is not None else holdout.cutoff_at_fraction(events, params.cutoff_fraction)


def evaluate_holdout(
    data: HoldoutData,
    params: EvaluationParams = EvaluationParams(),
    expansion: ExpansionParams = ExpansionParams(),
    features: UserFeatureParams = UserFeatureParams(),
) -> HoldoutResult:
    """Every method and metric on one time-based hold-out (rules in the module docstring).

    ``expansion`` and ``features`` are the settings the expansion's suggestions and take-up
    models are built with (those of ``interest_expansion`` and ``fused_user_features``).
    """
    events, items = data.events, data.items
    if events.height == 0 or len(items.ids) == 0:
        raise ValueError("nothing to evaluate: no events or no item embeddings")
    cutoff = resolve_cutoff(params, events)
    train, test = holdout.split_by_cutoff(events, cutoff)
    if train.height == 0 or test.height == 0:
        raise ValueError(f"cutoff {cutoff} leaves no train or no test events")
    ks = sorted({int(k) for k in params.ks})
    relevant_types = list(params.relevant_event_types)
    test_users = set(test.filter(pl.col("event_type").is_in(relevant_types) & pl.col("item_id").is_not_null())["user_id"].to_list())
    candidate_users = holdout.sample_users(test_users, params.max_users, params.seed)
    relevant = holdout.interaction_matrix(test, candidate_users, items.ids, relevant_types)
    exclude = holdout.interaction_matrix(train, candidate_users, items.ids)
    keep = (relevant & ~exclude).any(axis=1)
    user_ids = [u for u, k in zip(candidate_users, keep) if k]
    relevant, exclude = relevant[keep], exclude[keep]
    n_scored = users_evaluated(relevant, exclude)
    if n_scored == 0:
        raise ValueError(f"no user has a relevant new item after cutoff {cutoff}")

    # Impressions (shown and clicked candidates, as in MIND imports) are ranked within themselves.
    impressions = impressions_from_events(test.filter(pl.col("item_id").is_in(items.ids)), relevant_types)
    impression_users = holdout.sample_users(set(impressions["user_id"].to_list()), params.max_users, params.seed)
    impressions = impressions.filter(pl.col("user_id").is_in(impression_users))
    scored_users = sorted(set(user_ids) | set(impression_users))

    history = UserHistory(train, data.texts.before(cutoff), items)
    centroids = data.taxonomy.centroids(items.dim)
    weights = DEFAULT_EVENT_WEIGHTS
    n_topics = data.taxonomy.n_topics
    # Segments are fitted on every train-period user (as the method would be in production) and
    # their popularity counts everyone's train events; only the evaluated users' rows are kept.
    segment_users = sorted(set(train["user_id"].to_list()) | set(scored_users))
    kmeans, segments = holdout.kmeans_segment_scores(
        history, segment_users, max(1, n_topics), cutoff, params.train_behavior(weights), seed=params.seed, score_user_ids=scored_users
    )
    scores = {
        "interest_layers": holdout.interest_layer_scores(
            train, data.taxonomy.content_topics, centroids, scored_users, items, cutoff, params.train_layers(weights), params.membership_bonus
        ),
        "mean_embedding": holdout.mean_embedding_scores(train, scored_users, items, cutoff, params.train_behavior(weights)),
        "kmeans_segments": kmeans,
        "popularity": holdout.popularity_scores(train, scored_users, items.ids, weights),
        "random": holdout.random_scores(len(scored_users), len(items.ids), params.seed),
    }
    row_of = {u: i for i, u in enumerate(scored_users)}
    ranking_rows = [row_of[u] for u in user_ids]
    rankings = {method: evaluate_rankings(scores[method][ranking_rows], relevant, exclude, ks) for method in METHODS}
    n_impressions = impressions["impression"].n_unique()
    if impressions.height:
        column_of = {item: j for j, item in enumerate(items.ids)}
        rows = np.array([row_of[u] for u in impressions["user_id"]])
        columns = np.array([column_of[i] for i in impressions["item_id"]])
        for method in METHODS:
            per_impression = impression_metrics(impressions, scores[method][rows, columns])
            rankings[method].update({IMPRESSION_PREFIX + k: v for k, v in per_impression.items()})
    peer_segments = pl.DataFrame(
        {"user_id": segment_users, "segment": segments.astype(np.int64)}, schema={"user_id": pl.String, "segment": pl.Int64}
    )
    expansion_scores = holdout_expansion_precision(
        history, test, cutoff, data.taxonomy, peer_segments, user_ids, params, expansion, features
    )
    names = metric_names(ks) + ([IMPRESSION_PREFIX + k for k in IMPRESSION_METRICS] if n_impressions else [])
    return HoldoutResult(
        cutoff=cutoff,
        metrics=names,
        rankings=rankings,
        expansion=expansion_scores,
        n_users_scored=n_scored,
        n_test_users=len(test_users),
        n_impressions=n_impressions,
        n_items=len(items.ids),
        n_train_events=train.height,
        n_test_events=test.height,
        n_kmeans_segments=n_topics,
    )
