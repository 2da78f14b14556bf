"""Evaluation: does the interest model predict what users do next? A time-based hold-out."""

import datetime as dt

import numpy as np
import polars as pl
from dagster import Config, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core import expansion_holdout, holdout
from interest_pipeline.core.impressions import IMPRESSION_METRICS, impression_metrics, impressions_from_events
from interest_pipeline.core.embedding import series_to_vectors
from interest_pipeline.core.features import DEFAULT_EVENT_WEIGHTS
from interest_pipeline.core.ranking import (
    evaluate_rankings,
    metric_names,
    users_evaluated,
)
from interest_pipeline.defs.expansion.assets import DEFAULT_WEIGHTS as EXPANSION_WEIGHTS
from interest_pipeline.defs.expansion.assets import ExpansionConfig
from interest_pipeline.defs.conventions import WAREHOUSE_POOL, stage_tags
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.resources import MlflowTracking
from interest_pipeline.defs.warehouse import read_frame, replace_table

GROUP = "profiles"
EXPERIMENT = "interest_evaluation"
METHODS: tuple[str, ...] = ("interest_layers", "mean_embedding", "kmeans_segments", "popularity", "random")
EXPANSION_METHODS: tuple[str, ...] = ("interest_expansion", "expansion_without_model", "popular_subtopics", "random_subtopics")
EXPANSION_METRIC = "expansion_precision"
IMPRESSION_PREFIX = "impression_"  # impression_auc, impression_mrr, impression_ndcg@5, impression_ndcg@10


class EvaluationConfig(Config):
    cutoff: str = Field(default="", description="Cutoff time (ISO date or timestamp); empty: cutoff_fraction of the event time span.")
    cutoff_fraction: float = Field(default=0.8, gt=0, lt=1, description="Where the cutoff falls between the first and last event when no cutoff is given.")
    ks: list[int] = Field(default=[5, 10, 20], description="Cut-offs K of precision, recall, MAP and nDCG.")
    relevant_event_types: list[str] = Field(
        default=list(holdout.RELEVANT_EVENT_TYPES),
        description="Test-period event types that make an item relevant (views are left out by default).",
    )
    seed: int = Field(default=0, description="Seed of the random baseline, of K-Means and of the user sample.")
    max_users: int = Field(
        default=5_000,
        description="Score a seeded sample of this many test-period users (every method ranks every item for each, "
        "so memory grows with users x items); 0: all of them.",
    )
    long_half_life_days: float = Field(default=90.0, gt=0, description="Half-life of the decay of train-period events, measured back from the cutoff.")
    membership_bonus: float = Field(default=0.1, ge=0, description="Added to an item's similarity to a subtopic it belongs to (interest-layer method).")
    expansion_top_n: int = Field(default=5, ge=1, description="Subtopics suggested per user when scoring expansion precision.")


def _cutoff(config: EvaluationConfig, events: pl.DataFrame) -> dt.datetime:
    if config.cutoff:
        return dt.datetime.fromisoformat(config.cutoff)
    return holdout.cutoff_at_fraction(events, config.cutoff_fraction)


def _expansion_precision(config, train, test, topics, hierarchy, segment_users, segments, user_ids, cutoff, takeup_inputs) -> dict[str, tuple[float, int]]:
    """Expansion precision with the expansion asset's default settings (see ``holdout_expansion_precision``)."""
    defaults = ExpansionConfig()
    return expansion_holdout.holdout_expansion_precision(
        train, test, topics, hierarchy, segment_users, segments, user_ids, cutoff, *takeup_inputs,
        weights=EXPANSION_WEIGHTS, top_n=config.expansion_top_n, relevant_event_types=config.relevant_event_types,
        long_half_life_days=config.long_half_life_days, takeup_window_days=defaults.takeup_window_days,
        takeup_min_positives=defaults.takeup_min_positives, takeup_max_train_users=defaults.takeup_max_train_users, seed=config.seed,
    )


def _mlflow_name(method: str, metric: str) -> str:
    return f"{method}/{metric.replace('@', '_at_')}"


@asset(
    pool=WAREHOUSE_POOL,
    deps=["raw_behavior_logs", "item_embeddings", "comment_embeddings", "interest_topics", "interest_hierarchy"],
    group_name=GROUP, tags=stage_tags(GROUP),
    kinds={"duckdb", "mlflow"},
    description="Offline evaluation on a time-based hold-out: interest-layer recommendations against mean-embedding, "
    "K-Means-segment, popularity and random baselines (precision, recall, MAP, nDCG at K, AUC, MRR; per-impression AUC, "
    "MRR and nDCG@5/10 where the logs hold impressions), and expansion precision against popular and random suggestions.",
)
def interest_evaluation(config: EvaluationConfig, warehouse: DuckDBResource, mlflow: MlflowTracking) -> MaterializeResult:
    """Split the behaviour logs at a cutoff, build every method from the train period only, and
    rank all items with an embedding for each user; an item is relevant when the user has a
    test-period event of ``relevant_event_types`` on it, and items the user touched (any event,
    views included) before the cutoff are no candidates. Metrics average over the users with at
    least one relevant candidate. Where the test period holds impressions (a user's simultaneous
    views and clicks, as MIND imports write them), each method also ranks every impression's
    candidates (:mod:`interest_pipeline.core.impressions`). Expansion precision scores the
    suggestions made from train-period layers (:mod:`interest_pipeline.core.expansion_holdout`).

    Known leakage, so read the numbers as optimistic for the taxonomy-based methods:

    - the taxonomy (``interest_topics``, ``interest_hierarchy``) was clustered on all content,
      comments written after the cutoff included, so subtopic boundaries and centroids have
      seen test-period texts; item-to-subtopic assignments are content-only but come from that
      same clustering;
    - item embeddings depend on the item texts only (no behaviour), so they leak nothing;
    - the number of K-Means segments is the number of topics of that same taxonomy.

    The K-Means baseline is fitted on every user active in the train period; the other methods
    need no fitting across users.
    """
    with warehouse.get_connection() as conn:
        events = read_frame(
            conn,
            "SELECT event_id, user_id, item_id, event_type, event_ts FROM raw_behavior_logs "
            "ORDER BY user_id, event_ts, event_id",
        )
        items = read_frame(conn, "SELECT item_id, embedding FROM item_embeddings ORDER BY item_id")
        comments = read_frame(conn, "SELECT comment_id, user_id, event_ts, embedding FROM comment_embeddings ORDER BY comment_id")
        topics = read_frame(conn, "SELECT content_id, content_kind, topic_id, subtopic_id FROM interest_topics")
        hierarchy = read_frame(conn, "SELECT node_id, level, parent_id, label, centroid FROM interest_hierarchy ORDER BY node_id")
        n_topics = conn.execute("SELECT count(*) FROM interest_hierarchy WHERE level = 'topic'").fetchone()[0]
    if events.height == 0 or items.height == 0:
        raise ValueError("nothing to evaluate: raw_behavior_logs or item_embeddings is empty")

    cutoff = _cutoff(config, events)
    train, test = holdout.split_by_cutoff(events, cutoff)
    if train.height == 0 or test.height == 0:
        raise ValueError(f"cutoff {cutoff} leaves no train or no test events")
    ks = sorted({int(k) for k in config.ks})
    item_ids = items["item_id"].to_list()
    item_vectors = series_to_vectors(items["embedding"])
    test_users = set(test.filter(pl.col("event_type").is_in(config.relevant_event_types) & pl.col("item_id").is_not_null())["user_id"].to_list())
    candidate_users = holdout.sample_users(test_users, config.max_users, config.seed)
    relevant = holdout.interaction_matrix(test, candidate_users, item_ids, config.relevant_event_types)
    exclude = holdout.interaction_matrix(train, candidate_users, item_ids)
    keep = (relevant & ~exclude).any(axis=1)
    user_ids = [u for u, k in zip(candidate_users, keep) if k]
    relevant, exclude = relevant[keep], exclude[keep]
    n_scored = users_evaluated(relevant, exclude)
    if n_scored == 0:
        raise ValueError(f"no user has a relevant new item after cutoff {cutoff}")

    # Impressions (shown and clicked candidates, as in MIND imports) are ranked within themselves.
    impressions = impressions_from_events(test.filter(pl.col("item_id").is_in(item_ids)), config.relevant_event_types)
    impression_users = holdout.sample_users(set(impressions["user_id"].to_list()), config.max_users, config.seed)
    impressions = impressions.filter(pl.col("user_id").is_in(impression_users))
    scored_users = sorted(set(user_ids) | set(impression_users))

    train_comments = comments.filter(pl.col("event_ts") < pl.lit(cutoff, dtype=comments.schema["event_ts"]))
    comment_vectors = series_to_vectors(train_comments["embedding"], item_vectors.shape[1])
    centroids = hierarchy.filter(pl.col("level") == "subtopic").select("node_id", "centroid")
    centroid_vectors = series_to_vectors(centroids["centroid"], item_vectors.shape[1])
    weights = DEFAULT_EVENT_WEIGHTS
    # Segments are fitted on every train-period user (as the method would be in production) and
    # their popularity counts everyone's train events; only the evaluated users' rows are kept.
    segment_users = sorted(set(train["user_id"].to_list()) | set(scored_users))
    kmeans, segments = holdout.kmeans_segment_scores(
        train, train_comments.select("user_id", "event_ts"), comment_vectors, segment_users, item_ids, item_vectors,
        n_clusters=max(1, int(n_topics)), reference_ts=cutoff, seed=config.seed, half_life_days=config.long_half_life_days, weights=weights,
        score_user_ids=scored_users,
    )
    scores = {
        "interest_layers": holdout.interest_layer_scores(
            train, topics, centroids.select("node_id"), centroid_vectors, scored_users, item_ids, item_vectors, cutoff,
            long_half_life_days=config.long_half_life_days, membership_bonus=config.membership_bonus, weights=weights,
        ),
        "mean_embedding": holdout.mean_embedding_scores(train, scored_users, item_ids, item_vectors, cutoff, config.long_half_life_days, weights),
        "kmeans_segments": kmeans,
        "popularity": holdout.popularity_scores(train, scored_users, item_ids, weights),
        "random": holdout.random_scores(len(scored_users), len(item_ids), config.seed),
    }
    row_of = {u: i for i, u in enumerate(scored_users)}
    ranking_rows = [row_of[u] for u in user_ids]
    results = {method: evaluate_rankings(scores[method][ranking_rows], relevant, exclude, ks) for method in METHODS}
    if impressions.height:
        column_of = {item: j for j, item in enumerate(item_ids)}
        rows = np.array([row_of[u] for u in impressions["user_id"]])
        columns = np.array([column_of[i] for i in impressions["item_id"]])
        for method in METHODS:
            per_impression = impression_metrics(impressions, scores[method][rows, columns])
            results[method].update({IMPRESSION_PREFIX + k: v for k, v in per_impression.items()})
    n_impressions = impressions["impression"].n_unique()
    takeup_inputs = (train_comments.select("user_id", "event_ts"), comment_vectors, item_ids, item_vectors)
    expansion = _expansion_precision(config, train, test, topics, hierarchy, segment_users, segments, user_ids, cutoff, takeup_inputs)
    names = metric_names(ks) + ([IMPRESSION_PREFIX + k for k in IMPRESSION_METRICS] if n_impressions else [])
    table = pl.DataFrame(
        [(method, metric, results[method][metric]) for method in METHODS for metric in names]
        + [(method, EXPANSION_METRIC, expansion[method][0]) for method in EXPANSION_METHODS],
        schema={"method": pl.String, "metric": pl.String, "value": pl.Float64},
        orient="row",
    ).with_columns(pl.lit(cutoff, dtype=pl.Datetime("us")).alias("cutoff"), pl.lit(n_scored, dtype=pl.Int64).alias("n_users_scored"))
    wide = pl.DataFrame(
        [{"method": method, **{metric: round(results[method][metric], 4) for metric in names}} for method in METHODS]
    )

    with mlflow.start_run(EXPERIMENT, run_name=f"holdout-{cutoff:%Y%m%dT%H%M%S}", tags={"asset": "interest_evaluation"}) as run:
        run.log_params(
            {
                "cutoff": cutoff.isoformat(),
                "cutoff_fraction": config.cutoff_fraction if not config.cutoff else "",
                "ks": ",".join(map(str, ks)),
                "relevant_event_types": ",".join(config.relevant_event_types),
                "seed": config.seed,
                "max_users": config.max_users,
                "n_test_users": len(test_users),
                "long_half_life_days": config.long_half_life_days,
                "membership_bonus": config.membership_bonus,
                "n_kmeans_segments": int(n_topics),
                "n_users_scored": n_scored,
                "n_impressions": n_impressions,
                "n_items": len(item_ids),
                "n_train_events": train.height,
                "n_test_events": test.height,
            }
        )
        run.log_metrics({_mlflow_name(m, k): results[m][k] for m in METHODS for k in names})
        run.log_metrics({_mlflow_name(m, EXPANSION_METRIC): expansion[m][0] for m in EXPANSION_METHODS})
        run.log_table(table, "interest_evaluation.csv")
        run_id = run.run_id

    with warehouse.get_connection() as conn:
        replace_table(conn, "interest_evaluation", table)
    return MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "mlflow_run_id": run_id,
            "cutoff": str(cutoff),
            "n_users_scored": n_scored,
            "n_test_users": len(test_users),
            "n_impressions": n_impressions,
            "n_items": len(item_ids),
            "n_train_events": train.height,
            "n_test_events": test.height,
            "metrics": MetadataValue.md(markdown_table(wide, max_rows=len(METHODS))),
            "expansion_precision": MetadataValue.md(
                markdown_table(
                    pl.DataFrame(
                        [{"method": m, EXPANSION_METRIC: round(expansion[m][0], 4), "users": expansion[m][1]} for m in EXPANSION_METHODS]
                    ),
                    max_rows=len(EXPANSION_METHODS),
                )
            ),
        }
    )
