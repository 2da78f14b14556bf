"""The sequence both clusterings follow, in one place: open the MLflow run, cluster with stable
identities, compare with the previous run, log, and report the same quality metadata and check."""

from __future__ import annotations

import contextlib
import time

import numpy as np
import polars as pl
from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    MaterializeResult,
    MetadataValue,
)

from interest_pipeline.core.clustering.at_scale import cluster_distinct
from interest_pipeline.core.clustering.density_clustering import ClusteringParams, QualityBounds
from interest_pipeline.core.clustering.lineage import overlap_changes, stabilise_ids
from interest_pipeline.core.clustering.plots import markdown_image
from interest_pipeline.core.common.phases import PhaseLog
from interest_pipeline.defs.clustering.config import ClusteringConfig
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.resources import MlflowTracking
from interest_pipeline.defs.tracking import dagster_run_tags, mlflow_run_name


@contextlib.contextmanager
def open_run(context: AssetExecutionContext, mlflow: MlflowTracking, asset: str, description: str, phases: PhaseLog):
    """The MLflow run of this step, opened before the heavy work so that its duration is the step's.
    Opening is a phase of its own: on a new SQLite store MLflow creates its tables first (seconds)."""
    started = time.perf_counter()
    with mlflow.start_run(
        asset,
        run_name=mlflow_run_name(asset),
        tags=dagster_run_tags(context, asset),
        experiment_description=description,
    ) as run:
        phases.record("mlflow run", time.perf_counter() - started, f"run {run.run_id} in {mlflow.tracking_uri}")
        yield run


def log_artifacts(
    run, params: dict, metrics: dict, per_cluster: pl.DataFrame, files: dict[str, bytes], json_files: dict, tables: dict
) -> int:
    """Everything but the phase timings; returns the number of files logged."""
    run.log_params(params)
    run.log_metrics(metrics)
    run.log_mlflow_table(per_cluster, "silhouette_per_cluster.json")
    for name, content in files.items():
        run.log_bytes(content, name)
    for name, content in json_files.items():
        run.log_json(content, name)
    for name, frame in tables.items():
        run.log_table(frame, name)
    return 1 + len(files) + len(json_files) + len(tables)


def per_cluster_preview(per_cluster: pl.DataFrame) -> str:
    return markdown_table(per_cluster.drop("parent_label"), max_rows=40, max_chars=50)


def quality_check(asset: str, metrics: dict, config: ClusteringConfig) -> AssetCheckResult:
    """A warning, not a failure: a weaker clustering should not stop the pipeline."""
    bounds = QualityBounds(config.min_silhouette, config.max_noise_fraction)
    problems = bounds.problems(metrics.get("silhouette", float("nan")), metrics["noise_fraction"])
    return AssetCheckResult(
        asset_key=asset,
        check_name="quality_within_bounds",
        passed=not problems,
        severity=AssetCheckSeverity.WARN,
        metadata={"problems": "; ".join(problems) or "none", **quality_summary(metrics)},
    )


def quality_check_spec(asset: str) -> AssetCheckSpec:
    return AssetCheckSpec(
        "quality_within_bounds",
        asset=asset,
        description="Mean silhouette and noise fraction within the configured bounds (warns, never blocks).",
    )


def quality_summary(metrics: dict) -> dict:
    def rounded(key):
        value = metrics.get(key, float("nan"))
        return round(float(value), 4) if value == value else float("nan")

    return {
        "silhouette": rounded("silhouette"),
        "silhouette_reduced": rounded("silhouette_reduced"),
        "dbcv_relative_validity": rounded("dbcv_relative_validity"),
        "noise_fraction": rounded("noise_fraction"),
        "n_fine_clusters": int(metrics["n_fine_clusters"]),
        "n_coarse_clusters": int(metrics["n_coarse_clusters"]),
    }


def results_for_selection(
    context: AssetExecutionContext, outputs: dict[str, dict], checks: dict[str, list[AssetCheckResult]]
):
    """A MaterializeResult per selected asset; an asset written by the same step but not selected
    gets a runtime materialization, so its history in Dagster matches its table, and the results
    of its checks (``checks``, with those defined apart from the step, such as the table schema's)
    as check evaluations, so they are not left "not evaluated" for a table that changed."""
    selected = context.selected_asset_keys
    chosen_checks = context.selected_asset_check_keys
    for key, metadata in outputs.items():
        if AssetKey(key) in selected:
            results = [c for c in checks.get(key, []) if AssetCheckKey(AssetKey(key), c.check_name) in chosen_checks]
            yield MaterializeResult(asset_key=key, metadata=metadata, check_results=results)
        else:
            others = ", ".join(sorted(k.to_user_string() for k in selected))
            context.log.info(f"{key} comes from the same clustering as {others}: rewritten and recorded too")
            yield AssetMaterialization(
                asset_key=key, metadata=metadata, description=f"Written by the clustering step of {others}."
            )
            for check in checks.get(key, []):
                context.log_event(
                    AssetCheckEvaluation(
                        asset_key=AssetKey(key),
                        check_name=check.check_name,
                        passed=check.passed,
                        metadata=check.metadata,
                        severity=check.severity,
                        description=check.description,
                    )
                )


def cluster_with_identities(
    phases: PhaseLog,
    vectors: np.ndarray,
    params: ClusteringParams,
    previous: tuple[dict, dict],
    min_similarity: float,
    noun: str,
    keys: list[str] | None = None,
    cluster_vectors: np.ndarray | None = None,
):
    """Cluster (distinct texts once, when ``keys`` are given) and keep the previous run's ids for
    the clusters that match it; returns the clustering, its stability and lineage. The clusters
    are found in ``cluster_vectors`` when given (the texts' vectors with each language's mean
    removed), their centroids and ids always come from ``vectors``."""
    clustered = cluster_distinct(
        vectors if cluster_vectors is None else cluster_vectors, params, keys, on_phase=phases.record
    )
    previous_fine, previous_coarse = previous
    with phases.phase("identities") as phase:
        result, stability, lineage = stabilise_ids(clustered, vectors, previous_fine, previous_coarse, min_similarity)
        phase.detail = (
            "first run"
            if not previous_fine
            else f"{stability.get('fine_matched_share', 0):.0%} of {noun} kept their id"
        )
    return result, stability, lineage


def record_overlap(
    stability: dict, lineage: dict, previous: pl.DataFrame | None, table: pl.DataFrame, key: list[str], column: str
) -> None:
    """How many rows kept their cluster since the previous run, into ``stability`` and ``lineage``."""
    if previous is not None:
        overlap, changes = overlap_changes(previous, table, key, column, 1)
        stability.update(overlap)
        lineage["fine"].update(changes)


def clustering_metadata(
    run, metrics: dict, report, noun: str, per_cluster: pl.DataFrame, runtime: float, phases
) -> dict:
    """The metadata every clustering reports: the MLflow run, quality, pictures, per-cluster table, timings."""
    return {
        "mlflow_run_id": MetadataValue.url(run.url),
        **quality_summary(metrics),
        "cluster_map": MetadataValue.md(markdown_image(report.cluster_map, f"{noun} map")),
        "silhouette_per_cluster": MetadataValue.md(markdown_image(report.silhouette_bars, f"silhouette per {noun}")),
        "per_cluster": MetadataValue.md(per_cluster_preview(per_cluster)),
        "runtime_seconds": round(runtime, 2),
        "phase_seconds": MetadataValue.json({k: round(v, 2) for k, v in phases.seconds.items()}),
    }


def stability_metadata(stability: dict):
    return MetadataValue.json({k: round(v, 4) for k, v in stability.items()} or {"first_run": True})
