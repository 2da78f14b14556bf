"""Evaluation: does the interest model predict what users do next? A time-based hold-out."""

import datetime as dt

import polars as pl
from dagster import Config, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.expansion import ExpansionParams
from interest_pipeline.core.holdout import EvaluationParams, Taxonomy
from interest_pipeline.core.holdout_evaluation import (
    EXPANSION_METHODS,
    EXPANSION_METRIC,
    METHODS,
    HoldoutData,
    evaluate_holdout,
)
from interest_pipeline.defs.conventions import WAREHOUSE_POOL, stage_tags
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.params import as_record, params_from_config
from interest_pipeline.defs.resources import MlflowTracking
from interest_pipeline.defs.shared import read_feature_params, read_user_history
from interest_pipeline.defs.warehouse import read_frame, replace_table

__all__ = ["EXPANSION_METHODS", "EXPANSION_METRIC", "EXPERIMENT", "METHODS", "EvaluationConfig", "interest_evaluation"]

GROUP = "evaluation"
EXPERIMENT = "interest_evaluation"
_EVALUATION = EvaluationParams()


class EvaluationConfig(Config):
    cutoff: str = Field(default="", description="Cutoff time (ISO date or timestamp); empty: cutoff_fraction of the event time span.")
    cutoff_fraction: float = Field(
        default=_EVALUATION.cutoff_fraction, gt=0, lt=1, description="Where the cutoff falls between the first and last event when no cutoff is given."
    )
    ks: list[int] = Field(default=list(_EVALUATION.ks), description="Cut-offs K of precision, recall, MAP and nDCG.")
    relevant_event_types: list[str] = Field(
        default=list(_EVALUATION.relevant_event_types),
        description="Test-period event types that make an item relevant (views are left out by default).",
    )
    seed: int = Field(default=_EVALUATION.seed, description="Seed of the random baseline, of K-Means and of the user sample.")
    max_users: int = Field(
        default=_EVALUATION.max_users,
        description="Score a seeded sample of this many test-period users (every method ranks every item for each, "
        "so memory grows with users x items); 0: all of them.",
    )
    long_half_life_days: float = Field(
        default=_EVALUATION.long_half_life_days, gt=0, description="Half-life of the decay of train-period events, measured back from the cutoff."
    )
    membership_bonus: float = Field(
        default=_EVALUATION.membership_bonus, ge=0, description="Added to an item's similarity to a subtopic it belongs to (interest-layer method)."
    )
    expansion_top_n: int = Field(default=_EVALUATION.expansion_top_n, ge=1, description="Subtopics suggested per user when scoring expansion precision.")

    def params(self) -> EvaluationParams:
        return params_from_config(
            self,
            EvaluationParams,
            cutoff=dt.datetime.fromisoformat(self.cutoff) if self.cutoff else None,
            ks=tuple(self.ks),
            relevant_event_types=tuple(self.relevant_event_types),
        )


def _mlflow_name(method: str, metric: str) -> str:
    return f"{method}/{metric.replace('@', '_at_')}"


@asset(
    pool=WAREHOUSE_POOL,
    deps=["raw_behavior_logs", "item_embeddings", "comment_embeddings", "interest_topics", "interest_hierarchy", "fused_user_features"],
    group_name=GROUP, tags=stage_tags(GROUP),
    kinds={"duckdb", "mlflow"},
    description="Offline evaluation on a time-based hold-out: interest-layer recommendations against mean-embedding, "
    "K-Means-segment, popularity and random baselines (precision, recall, MAP, nDCG at K, AUC, MRR; per-impression AUC, "
    "MRR and nDCG@5/10 where the logs hold impressions), and expansion precision against popular and random suggestions.",
)
def interest_evaluation(config: EvaluationConfig, warehouse: DuckDBResource, mlflow: MlflowTracking) -> MaterializeResult:
    """Split the behaviour logs at a cutoff, build every method from the train period only, and
    score them (rules and known leakage: :mod:`interest_pipeline.core.holdout_evaluation`).

    The expansion is scored with the expansion's default settings, and its take-up models with
    the parameters ``fused_user_features`` was built with.
    """
    params = config.params()
    with warehouse.get_connection() as conn:
        history = read_user_history(conn)
        topics = read_frame(conn, "SELECT content_id, content_kind, topic_id, subtopic_id FROM interest_topics")
        hierarchy = read_frame(conn, "SELECT node_id, level, parent_id, label, centroid FROM interest_hierarchy ORDER BY node_id")
        features = read_feature_params(conn)
    data = HoldoutData(history.events, history.texts, history.items, Taxonomy(topics, hierarchy))
    if data.events.height == 0 or len(data.items.ids) == 0:
        raise ValueError("nothing to evaluate: raw_behavior_logs or item_embeddings is empty")
    outcome = evaluate_holdout(data, params, ExpansionParams(), features)
    table, cutoff, names = outcome.table(), outcome.cutoff, outcome.metrics

    with mlflow.start_run(EXPERIMENT, run_name=f"holdout-{cutoff:%Y%m%dT%H%M%S}", tags={"asset": "interest_evaluation"}) as run:
        run.log_params(
            {
                "cutoff": cutoff.isoformat(),
                "cutoff_fraction": config.cutoff_fraction if not config.cutoff else "",
                "ks": ",".join(map(str, sorted(set(params.ks)))),
                "relevant_event_types": ",".join(params.relevant_event_types),
                "seed": params.seed,
                "max_users": params.max_users,
                "n_test_users": outcome.n_test_users,
                "long_half_life_days": params.long_half_life_days,
                "membership_bonus": params.membership_bonus,
                "n_kmeans_segments": outcome.n_kmeans_segments,
                "n_users_scored": outcome.n_users_scored,
                "n_impressions": outcome.n_impressions,
                "n_items": outcome.n_items,
                "n_train_events": outcome.n_train_events,
                "n_test_events": outcome.n_test_events,
                "features/alpha": features.fusion.alpha,
                "features/behavior_half_life_days": features.behavior.half_life_days,
                "features/text_half_life_days": features.text.half_life_days,
            }
        )
        run.log_metrics({_mlflow_name(m, k): outcome.rankings[m][k] for m in METHODS for k in names})
        run.log_metrics({_mlflow_name(m, EXPANSION_METRIC): outcome.expansion[m][0] for m in EXPANSION_METHODS})
        run.log_table(table, "interest_evaluation.csv")
        run_id = run.run_id

    with warehouse.get_connection() as conn:
        replace_table(conn, "interest_evaluation", table, {"evaluation": as_record(params), "features": as_record(features)})
    return MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "mlflow_run_id": run_id,
            "cutoff": str(cutoff),
            "n_users_scored": outcome.n_users_scored,
            "n_test_users": outcome.n_test_users,
            "n_impressions": outcome.n_impressions,
            "n_items": outcome.n_items,
            "n_train_events": outcome.n_train_events,
            "n_test_events": outcome.n_test_events,
            "feature_parameters": MetadataValue.json(as_record(features)),
            "metrics": MetadataValue.md(markdown_table(outcome.wide(), max_rows=len(METHODS))),
            "expansion_precision": MetadataValue.md(
                markdown_table(
                    pl.DataFrame(
                        [{"method": m, EXPANSION_METRIC: round(outcome.expansion[m][0], 4), "users": outcome.expansion[m][1]} for m in EXPANSION_METHODS]
                    ),
                    max_rows=len(EXPANSION_METHODS),
                )
            ),
        }
    )
