"""Evaluation: does the interest model predict what users do next? A hold-out per user (by default)."""

import datetime as dt

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
)
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.evaluation.holdout_evaluation import (
    ACTIVITY_METRICS,
    EXPANSION_METHODS,
    EXPANSION_METRIC,
    METHODS,
    NEXT_INTEREST_METHODS,
    SHIPPED,
    USER_GROUPS,
    HoldoutData,
    HoldoutResult,
    activity_group_name,
    evaluate_holdout,
)
from interest_pipeline.core.evaluation.interest_measures import ACTIVITY_GROUPS
from interest_pipeline.core.evaluation.scoring_methods import EvaluationParams, Taxonomy
from interest_pipeline.core.evaluation.splits import PROTOCOLS
from interest_pipeline.core.expansion.interest_expansion import ExpansionParams
from interest_pipeline.defs.conventions import warehouse_asset
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.params import as_record, params_from_config
from interest_pipeline.defs.resources import MlflowTracking
from interest_pipeline.defs.shared import SHIPPED_SETTINGS, read_feature_params, read_user_history
from interest_pipeline.defs.tracking import dagster_run_tags, mlflow_run_name, step_phases
from interest_pipeline.defs.warehouse import read_frame, replace_table

__all__ = ["EXPANSION_METHODS", "EXPANSION_METRIC", "EXPERIMENT", "METHODS", "EvaluationConfig", "interest_evaluation"]

EXPERIMENT = "interest_evaluation"
EXPERIMENT_DESCRIPTION = (
    "Offline evaluation of the interest layers: one run per materialization of the Dagster asset interest_evaluation "
    "(tags dagster.run_id, dagster.asset_key, dagster.code_version, protocol). Params: the split, the tuned blend/*; "
    "metrics per method (cold_start/* for users without history), interest coverage_at_20 and diversity_at_20, "
    "nDCG@10 and coverage@20 of light, medium and heavy users (light_history/* etc.), paired differences, hit@1, "
    "phase_seconds/*; "
    "the table interest_evaluation.csv holds every figure."
)
_EVALUATION = EvaluationParams()


# The expansion coverage check warns below this share of scored users with a suggestion.
MIN_EXPANSION_COVERAGE = 0.9


class EvaluationConfig(Config):
    protocol: str = Field(
        default=_EVALUATION.protocol,
        description=f"Split protocol, one of {', '.join(PROTOCOLS)}: each user's last test_fraction (or last test_events) of their "
        "relevant events, each user's last one, or one cutoff for everyone.",
    )
    test_fraction: float = Field(
        default=_EVALUATION.test_fraction,
        gt=0,
        lt=1,
        description="per_user: the share of each user's relevant events held out.",
    )
    test_events: int = Field(
        default=_EVALUATION.test_events,
        ge=0,
        description="per_user: hold out each user's last this many relevant events instead (0: use test_fraction).",
    )
    cutoff: str = Field(
        default="",
        description="global_cutoff: the cutoff time (ISO date or timestamp); empty: cutoff_fraction of the event time span.",
    )
    cutoff_fraction: float = Field(
        default=_EVALUATION.cutoff_fraction,
        gt=0,
        lt=1,
        description="Where the cutoff falls between the first and last event when no cutoff is given.",
    )
    ks: list[int] = Field(default=list(_EVALUATION.ks), description="Cut-offs K of precision, recall, MAP and nDCG.")
    relevant_event_types: list[str] = Field(
        default=list(_EVALUATION.relevant_event_types),
        description="Test-period event types that make an item relevant (views are left out by default).",
    )
    seed: int = Field(
        default=_EVALUATION.seed, description="Seed of the random baseline, of K-Means and of the user sample."
    )
    kmeans_restarts: int = Field(
        default=_EVALUATION.kmeans_restarts,
        ge=1,
        description="k-means++ starts of the K-Means segment baseline; the one with the lowest inertia is kept (compared on 20,000 users when more are clustered).",
    )
    max_users: int = Field(
        default=_EVALUATION.max_users,
        description="Score a seeded sample of this many test-period users (every method ranks every item for each, "
        "so memory grows with users x items); 0: all of them.",
    )
    long_half_life_days: float = Field(
        default=_EVALUATION.long_half_life_days,
        gt=0,
        description="Half-life of the decay of train-period events, measured back from the cutoff.",
    )
    membership_bonus: float = Field(
        default=_EVALUATION.membership_bonus,
        ge=0,
        description="Added to an item's similarity to a subtopic it belongs to (interest-layer method).",
    )
    expansion_top_n: int = Field(
        default=_EVALUATION.expansion_top_n,
        ge=1,
        description="Subtopics suggested per user when scoring expansion precision.",
    )
    validation_max_users: int = Field(
        default=_EVALUATION.validation_max_users,
        ge=1,
        description="Users scored on the validation slice when the rankers' settings are tuned.",
    )
    bootstrap_resamples: int = Field(
        default=_EVALUATION.bootstrap_resamples, ge=100, description="Resamples of the paired bootstrap intervals."
    )

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


def _checks(outcome: HoldoutResult) -> list[AssetCheckResult]:
    paired = outcome.paired_to("popularity")
    beats = paired is not None and paired.mean > 0
    checks = [
        AssetCheckResult(
            check_name="shipped_ranker_beats_popularity",
            passed=bool(beats),
            severity=AssetCheckSeverity.WARN,
            description="The shipped ranker's mean per-user nDCG@10 is above popularity's on the users with history.",
            metadata={
                "ndcg@10_difference": paired.mean if paired else float("nan"),
                "ci95_low": paired.low if paired else float("nan"),
                "ci95_high": paired.high if paired else float("nan"),
                "users": paired.n_users if paired else 0,
            },
        ),
        AssetCheckResult(
            check_name="expansion_covers_scored_users",
            passed=bool(outcome.expansion_coverage >= MIN_EXPANSION_COVERAGE),
            severity=AssetCheckSeverity.WARN,
            description=f"At least {MIN_EXPANSION_COVERAGE:.0%} of the scored users with history get an expansion suggestion.",
            metadata={
                "coverage": float(outcome.expansion_coverage),
                "users_with_history": outcome.n_users["with_history"],
            },
        ),
    ]
    return checks


def _blend_params(outcome) -> dict:
    """The blended ranker's tuned settings, as stored with the run."""
    best = outcome.tuning.best
    return {
        "blend/popularity_weight": best.popularity_weight,
        "blend/long_half_life_days": best.long_half_life_days,
        "blend/event_half_life": best.event_half_life,
        "blend/recent_share": best.recent_share,
        "blend/validation_ndcg_at_10": outcome.tuning.best_score,
        "blend/validation_users": outcome.tuning.n_validation_users,
        "next_interest/event_half_life": outcome.next_interest_half_life,
        "next_interest/event_weighting": outcome.next_interest_weighting,
        # the collaborative baselines' settings, chosen on the same validation slice
        **{f"collaborative/{k}": v for k, v in outcome.extra.items() if k.startswith(("ease", "item_knn"))},
        # the layered ranker's collaborative model and layer weight, chosen on the same slice
        **{f"layered/{k.removeprefix('layered_')}": v for k, v in outcome.extra.items() if k.startswith("layered_")},
    }


def _counts(outcome) -> dict:
    """How many users, items and events the evaluation saw; the same in MLflow and in the metadata."""
    return {
        "n_users_scored": outcome.n_users_scored,
        "n_users_with_history": outcome.n_users["with_history"],
        "n_users_cold_start": outcome.n_users["cold_start"],
        "n_test_users": outcome.n_test_users,
        "n_impressions": outcome.n_impressions,
        "n_items": outcome.n_items,
        "n_train_events": outcome.n_train_events,
        "n_test_events": outcome.n_test_events,
        **{f"n_users_{activity_group_name(a)}": outcome.n_activity_users.get(a, 0) for a in ACTIVITY_GROUPS},
    }


def _activity_groups(outcome) -> dict:
    """The activity groups' users and training-event bounds, as shown in the metadata."""
    light_max, medium_max = outcome.activity_thresholds
    bounds = {
        "light": f"<= {light_max:g}",
        "medium": f"{light_max:g} < n <= {medium_max:g}",
        "heavy": f"> {medium_max:g}",
    }
    return {a: {"users": outcome.n_activity_users.get(a, 0), "training_events": bounds[a]} for a in ACTIVITY_GROUPS}


def _log_to_mlflow(run, phases, params, features, outcome, table, blend_params: dict) -> None:
    reference = outcome.reference_ts
    run.log_params(
        {
            "protocol": params.protocol,
            "test_fraction": params.test_fraction,
            "test_events": params.test_events,
            "reference_ts": reference.isoformat(),
            "cutoff": params.cutoff.isoformat() if params.cutoff else "",
            "cutoff_fraction": params.cutoff_fraction,
            "ks": ",".join(map(str, sorted(set(params.ks)))),
            "relevant_event_types": ",".join(params.relevant_event_types),
            "seed": params.seed,
            "max_users": params.max_users,
            "long_half_life_days": params.long_half_life_days,
            "membership_bonus": params.membership_bonus,
            "n_kmeans_segments": outcome.n_kmeans_segments,
            "activity/light_max_training_events": outcome.activity_thresholds[0],
            "activity/medium_max_training_events": outcome.activity_thresholds[1],
            "features/alpha": features.fusion.alpha,
            "features/behavior_half_life_days": features.behavior.half_life_days,
            "features/text_half_life_days": features.text.half_life_days,
            "takeup/used": outcome.takeup["used"],
            "takeup/n_modelled_subtopics": outcome.takeup["n_modelled_subtopics"],
            **_counts(outcome),
            **blend_params,
        }
    )
    group_prefix = {"with_history": "", "cold_start": "cold_start/"}
    run.log_metrics(
        {
            group_prefix[g] + _mlflow_name(m, k): v
            for g in USER_GROUPS
            if outcome.n_users[g]
            for m in METHODS
            for k, v in outcome.rankings[g][m].items()
            if v == v
        }
    )
    run.log_metrics(
        {
            f"{activity_group_name(a)}/" + _mlflow_name(m, k): outcome.activity[a][m][k]
            for a in ACTIVITY_GROUPS
            if outcome.n_activity_users.get(a)
            for m in METHODS
            for k in ACTIVITY_METRICS
            if outcome.activity[a][m][k] == outcome.activity[a][m][k]
        }
    )
    run.log_metrics(
        {_mlflow_name(p.method, f"{p.metric}_vs_{p.baseline}"): p.mean for p in outcome.paired if p.mean == p.mean}
    )
    run.log_metrics(
        {
            _mlflow_name(m, EXPANSION_METRIC): outcome.expansion[m][0]
            for m in EXPANSION_METHODS
            if outcome.expansion[m][0] == outcome.expansion[m][0]
        }
    )
    run.log_metrics(
        {
            _mlflow_name(NEXT_INTEREST_METHODS[m], f"hit@1_{level}"): v
            for level, (hits, _) in outcome.next_interest.items()
            for m, v in hits.items()
            if v == v
        }
    )
    run.log_table(table, "interest_evaluation.csv")

    run.log_metrics(phases.as_metrics())


def _metadata_table(rows: list[dict]) -> MetadataValue:
    return MetadataValue.md(markdown_table(pl.DataFrame(rows), max_rows=len(rows)))


@warehouse_asset(
    deps=[
        "raw_behavior_logs",
        "item_embeddings",
        "comment_embeddings",
        "interest_topics",
        "interest_hierarchy",
        "fused_user_features",
    ],
    kinds={"mlflow"},
    check_specs=[
        AssetCheckSpec(
            "shipped_ranker_beats_popularity",
            asset="interest_evaluation",
            description="The shipped ranker beats popularity on nDCG@10 (warning only).",
        ),
        AssetCheckSpec(
            "expansion_covers_scored_users",
            asset="interest_evaluation",
            description="Expansion suggests something to the scored users (warning only).",
        ),
    ],
    description="Offline evaluation on a per-user hold-out (or leave-last-one, or a global cutoff): the shipped ranker (EASE^R or "
    "item-kNN reading each user's history by recency, mixed with and spread over the interest layers; its chosen settings "
    "are stored with the table for item_recommendations), the layer ranker (layers + popularity prior) and the plain "
    "layers, each tuned on a validation slice, against mean-embedding, K-Means-segment, EASE^R, item-kNN, popularity and "
    "random baselines (precision, recall, MAP, nDCG at K, AUC, MRR, paired nDCG@10 differences with 95% intervals; users with and "
    "without history apart), interest coverage@20 and subtopic diversity@20 of every method, nDCG@10 and coverage@20 of light, "
    "medium and heavy users, next-interest Hit@1 against the previous and majority category, and expansion precision.",
)
def interest_evaluation(
    context: AssetExecutionContext, config: EvaluationConfig, warehouse: DuckDBResource, mlflow: MlflowTracking
) -> MaterializeResult:
    """Split the behaviour logs, tune the rankers on the validation slice, build every method
    from the training events only, and score them (rules and known leakage:
    :mod:`interest_pipeline.core.evaluation.holdout_evaluation`).

    The expansion is scored with the expansion's default settings, and its take-up models with
    the parameters ``fused_user_features`` was built with.
    """
    params = config.params()
    phases = step_phases(context)
    # Opened before the work, so that the MLflow run's duration is the step's.
    with mlflow.start_run(
        EXPERIMENT,
        run_name=mlflow_run_name(EXPERIMENT),
        tags={**dagster_run_tags(context, EXPERIMENT), "protocol": params.protocol},
        experiment_description=EXPERIMENT_DESCRIPTION,
    ) as run:
        with phases.phase("read") as phase, warehouse.get_connection() as conn:
            history = read_user_history(conn)
            topics = read_frame(conn, "SELECT content_id, content_kind, topic_id, subtopic_id FROM interest_topics")
            hierarchy = read_frame(
                conn, "SELECT node_id, level, parent_id, label, centroid FROM interest_hierarchy ORDER BY node_id"
            )
            features = read_feature_params(conn)
            phase.detail = f"{history.events.height:,d} events, {len(history.items.ids):,d} items, {topics.height:,d} topic assignments"
        data = HoldoutData(history.events, history.texts, history.items, Taxonomy(topics, hierarchy))
        if data.events.height == 0 or len(data.items.ids) == 0:
            raise ValueError("nothing to evaluate: raw_behavior_logs or item_embeddings is empty")
        outcome = evaluate_holdout(data, params, ExpansionParams(), features, on_phase=phases.record)
        table, reference, blend_params = outcome.table(), outcome.reference_ts, _blend_params(outcome)
        _log_to_mlflow(run, phases, params, features, outcome, table, blend_params)
        run_url = run.url
    with phases.phase("store", f"{table.height:,d} rows"), warehouse.get_connection() as conn:
        replace_table(
            conn,
            "interest_evaluation",
            table,
            {
                "evaluation": as_record(params),
                "features": as_record(features),
                SHIPPED_SETTINGS: as_record(outcome.shipped_settings),
            },
        )
    return MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "mlflow_run_id": MetadataValue.url(run_url),
            "phase_seconds": MetadataValue.json({k: round(v, 2) for k, v in phases.seconds.items()}),
            "protocol": params.protocol,
            "reference_ts": str(reference),
            **_counts(outcome),
            "feature_parameters": MetadataValue.json(as_record(features)),
            "blended_ranker_parameters": MetadataValue.json(blend_params),
            "metrics": MetadataValue.md(markdown_table(outcome.wide("with_history"), max_rows=len(METHODS))),
            "metrics_cold_start": MetadataValue.md(markdown_table(outcome.wide("cold_start"), max_rows=len(METHODS))),
            "metrics_by_activity": MetadataValue.md(markdown_table(outcome.by_activity(), max_rows=len(METHODS))),
            "activity_groups": MetadataValue.json(_activity_groups(outcome)),
            "paired_differences": _metadata_table(
                [
                    {
                        "method": p.method,
                        "baseline": p.baseline,
                        "metric": p.metric,
                        "mean": round(p.mean, 4),
                        "ci95_low": round(p.low, 4),
                        "ci95_high": round(p.high, 4),
                        "users": p.n_users,
                    }
                    for p in outcome.paired
                ]
            ),
            "next_interest_hit_at_1": _metadata_table(
                [
                    {"level": level, "users": n, **{NEXT_INTEREST_METHODS[m]: round(v, 4) for m, v in hits.items()}}
                    for level, (hits, n) in outcome.next_interest.items()
                ]
            ),
            "expansion_precision": _metadata_table(
                [
                    {"method": m, EXPANSION_METRIC: round(outcome.expansion[m][0], 4), "users": outcome.expansion[m][1]}
                    for m in EXPANSION_METHODS
                ]
            ),
            "takeup_model": MetadataValue.json(outcome.takeup),
            "expansion_coverage": float(outcome.expansion_coverage),
            "shipped_ranker": SHIPPED,
        },
        check_results=_checks(outcome),
    )
