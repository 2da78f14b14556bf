"""Clustering: the interest taxonomy over content, and user segments over fused features.

Each materialization is one MLflow run (experiment named after the asset) whose id is
stored with the cluster tables and shown in the Dagster metadata.
"""


import time
from dataclasses import asdict
from typing import Literal, Optional

import numpy as np
import polars as pl
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.assignment_model import FILE_NAME as ASSIGNMENT_MODEL_FILE
from interest_pipeline.core.assignment_model import CentroidAssignmentModel
from interest_pipeline.core.catalogue_agreement import CATEGORY_COLUMNS, catalogue_agreement, dominant_categories
from interest_pipeline.core.cluster_lineage import overlap_changes, stabilise_ids
from interest_pipeline.core.cluster_report import clustering_report
from interest_pipeline.core.clustering import NOISE, ClusteringParams
from interest_pipeline.core.clustering_at_scale import cluster_distinct
from interest_pipeline.core.distinct import near_duplicate_key
from interest_pipeline.core.text import tokenize
from interest_pipeline.core.embedding import series_to_vectors
from interest_pipeline.core.identity import cluster_centroids, parse_number
from interest_pipeline.core.hierarchy import build_hierarchy, hierarchy_as_tree, node_ids, subtopic_id, topic_id, tree_as_markdown
from interest_pipeline.core.plots import markdown_image, topic_tree_png
from interest_pipeline.defs.conventions import WAREHOUSE_POOL, follow_new_data, recluster_on_cadence, stage_tags
from interest_pipeline.defs.incremental import RebuildConfig, find_changes, key_fingerprints, read_for_changes, store_changes
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.params import params_from_config
from interest_pipeline.defs.resources import MlflowTracking, SentenceEmbedder
from interest_pipeline.defs.tracking import dagster_run_tags, mlflow_run_name, step_phases
from interest_pipeline.defs.warehouse import quote_identifier, read_frame, replace_table, table_columns, table_exists

GROUP = "clustering"


_PARAMS = ClusteringParams()


class ClusteringConfig(Config):
    """HDBSCAN finds fine clusters in reduced embeddings; a second, coarser HDBSCAN groups them into coarse ones.

    Defaults come from ``core.clustering.ClusteringParams``, the one place they are defined.
    """

    reduction: Literal["umap", "pca", "none"] = Field(default=_PARAMS.reduction, description="Reduction before HDBSCAN. UMAP (cosine) works on real text; PCA is faster but collapses on it.")
    n_components: int = Field(default=_PARAMS.n_components, ge=2, le=100, description="Dimensions after reduction.")
    umap_n_neighbors: int = Field(default=_PARAMS.umap_n_neighbors, ge=2, description="UMAP neighbourhood size.")
    umap_init: Literal["auto", "spectral", "pca", "tswspectral", "random"] = Field(
        default=_PARAMS.umap_init, description="UMAP's starting layout; auto: spectral below 50,000 points, PCA above (the spectral start stalls on large graphs)."
    )
    min_cluster_size: Optional[int] = Field(default=_PARAMS.min_cluster_size, ge=2, description="HDBSCAN min_cluster_size; empty = max(min_cluster_floor, min_cluster_scale * sqrt(distinct points fitted)).")
    min_cluster_scale: float = Field(default=_PARAMS.min_cluster_scale, gt=0, description="Used when min_cluster_size is empty: the fine level's granularity grows with the square root of the data.")
    min_cluster_floor: int = Field(default=_PARAMS.min_cluster_floor, ge=2, description="Smallest automatic min_cluster_size.")
    min_samples: Optional[int] = Field(default=_PARAMS.min_samples, ge=1, description="HDBSCAN min_samples (larger = more conservative, more noise); empty = min_cluster_size.")
    fine_selection: Literal["leaf", "eom"] = Field(default=_PARAMS.fine_selection, description="HDBSCAN cluster selection for the fine level.")
    n_coarse: Optional[int] = Field(default=_PARAMS.n_coarse, ge=1, description="Coarse clusters (topics / segment groups) as Ward groups of the fine centroids; empty = found by a coarser HDBSCAN.")
    coarse_size_factor: int = Field(default=_PARAMS.coarse_size_factor, ge=2, description="Coarse HDBSCAN's min_cluster_size as a multiple of the fine one (when n_coarse is empty).")
    assign_noise: bool = Field(default=_PARAMS.assign_noise, description="Give noise points their nearest cluster (flagged noise_assigned).")
    random_state: int = Field(default=_PARAMS.random_state, description="Seed of the reduction and of the fit sample, for repeatable runs.")
    max_fit_points: int = Field(default=_PARAMS.max_fit_points, ge=100, description="Above this many distinct points, fit on a stratified seeded sample and assign the rest to the nearest subtopic centroid.")
    identity_min_similarity: float = Field(default=0.8, ge=0, le=1, description="A new cluster keeps a previous run's id when their centroids' cosine similarity reaches this.")
    min_silhouette: float = Field(default=0.05, ge=-1, le=1, description="Quality check: warn when the mean silhouette falls below.")
    max_noise_fraction: float = Field(default=0.3, ge=0, le=1, description="Quality check: warn when HDBSCAN leaves more of the points as noise.")

    def params(self) -> ClusteringParams:
        return params_from_config(self, ClusteringParams)


class SegmentConfig(ClusteringConfig):
    """The same clustering over fused user vectors (users are never deduplicated)."""


TOPICS_EXPERIMENT_DESCRIPTION = (
    "The interest taxonomy: HDBSCAN over sentence embeddings of items and comments, topics -> subtopics, "
    "each labelled with c-TF-IDF keywords. One run per materialization of the Dagster asset interest_topics "
    "(tags dagster.run_id, dagster.asset_key, dagster.code_version). Metrics: silhouette, DBCV, noise share, "
    "stability against the previous run, catalogue agreement, phase_seconds/*; the table silhouette_per_cluster.json "
    "holds each subtopic's silhouette; the logged model assignment_model (pyfunc) assigns new embeddings to subtopics."
)
SEGMENTS_EXPERIMENT_DESCRIPTION = (
    "User segments: HDBSCAN over fused behaviour + text user vectors, a coarse and a fine level. One run per "
    "materialization of the Dagster asset user_segments (tags dagster.run_id, dagster.asset_key, dagster.code_version). "
    "Metrics: silhouette, DBCV, noise share, stability, phase_seconds/*; the table silhouette_per_cluster.json holds "
    "each fine segment's silhouette."
)


def _open_run(context: AssetExecutionContext, mlflow: MlflowTracking, asset: str, description: str):
    """The MLflow run of this step, opened before the heavy work so that its duration is the step's."""
    return mlflow.start_run(asset, run_name=mlflow_run_name(asset), tags=dagster_run_tags(context, asset), experiment_description=description)


def _log_artifacts(run, params: dict, metrics: dict, per_cluster: pl.DataFrame, files: dict[str, bytes], json_files: dict, tables: dict) -> int:
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


def _per_cluster_preview(per_cluster: pl.DataFrame) -> str:
    return markdown_table(per_cluster.drop("parent_label"), max_rows=40, max_chars=50)


def _quality_check(asset: str, metrics: dict, config: ClusteringConfig) -> AssetCheckResult:
    """A warning, not a failure: a weaker clustering should not stop the pipeline."""
    silhouette, noise = metrics.get("silhouette", float("nan")), metrics["noise_fraction"]
    problems = []
    if not silhouette >= config.min_silhouette:  # also catches NaN (fewer than two clusters)
        problems.append(f"silhouette {silhouette:.3f} below {config.min_silhouette}")
    if noise > config.max_noise_fraction:
        problems.append(f"noise fraction {noise:.1%} above {config.max_noise_fraction:.0%}")
    return AssetCheckResult(
        asset_key=asset,
        check_name="quality_within_bounds",
        passed=not problems,
        severity=AssetCheckSeverity.WARN,
        metadata={"problems": "; ".join(problems) or "none", **_quality_summary(metrics)},
    )


def _quality_check_spec(asset: str) -> AssetCheckSpec:
    return AssetCheckSpec(
        "quality_within_bounds",
        asset=asset,
        description="Mean silhouette and noise fraction within the configured bounds (warns, never blocks).",
    )


def _quality_summary(metrics: dict) -> dict:
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


@multi_asset(
    pool=WAREHOUSE_POOL,
    specs=[
        AssetSpec(
            "interest_topics",
            deps=["item_embeddings", "comment_embeddings", "item_catalog", "tokenized_comments"],
            description="HDBSCAN over the content embeddings (items and comments) after dimension reduction: "
            "each content point's subtopic and topic, noise kept and flagged.",
            group_name=GROUP, tags=stage_tags(GROUP), automation_condition=recluster_on_cadence,
            kinds={"duckdb", "hdbscan", "mlflow"},
        ),
        AssetSpec(
            "interest_hierarchy",
            deps=["item_embeddings", "comment_embeddings"],
            description="The interest taxonomy: root -> topics -> subtopics, each node with parent, size, "
            "centroid and a c-TF-IDF keyword label.",
            group_name=GROUP, tags=stage_tags(GROUP), automation_condition=recluster_on_cadence,
            kinds={"duckdb", "mlflow"},
        ),
    ],
    check_specs=[_quality_check_spec("interest_topics")],
    can_subset=True,
)
def interest_topics(context: AssetExecutionContext, config: ClusteringConfig, warehouse: DuckDBResource, mlflow: MlflowTracking, embedder: SentenceEmbedder):
    """Cluster items and comments together; subtopics are fine clusters, topics coarse ones.

    Both tables come from one clustering, so selecting either asset rebuilds both: the one not
    selected is recorded as a materialization of the same run, never left stale.
    """
    start = time.perf_counter()
    phases = step_phases(context)
    with _open_run(context, mlflow, "interest_topics", TOPICS_EXPERIMENT_DESCRIPTION) as run:
        context.log.info(f"MLflow run {run.url}")
        with phases.phase("read") as phase:
            with warehouse.get_connection() as conn:
                content = read_frame(
                    conn,
                    "SELECT e.item_id AS content_id, 'item' AS content_kind, c.text_clean, c.tokens, c.title, e.embedding "
                    "FROM item_embeddings e JOIN item_catalog c USING (item_id) "
                    "UNION ALL "
                    "SELECT e.comment_id, 'comment', t.text_clean, t.tokens, NULL, e.embedding "
                    "FROM comment_embeddings e JOIN tokenized_comments t USING (comment_id) "
                    "ORDER BY content_kind DESC, content_id",
                )
                catalogue_columns = [c for c in CATEGORY_COLUMNS if c in table_columns(conn, "item_catalog")]
                catalogue = read_frame(conn, "SELECT item_id" + "".join(f", {quote_identifier(c)}" for c in catalogue_columns) + " FROM item_catalog")
                previous_nodes = read_frame(conn, "SELECT node_id, level, centroid FROM interest_hierarchy WHERE level <> 'root'") if table_exists(conn, "interest_hierarchy") else None
                previous_assignments = read_frame(conn, "SELECT content_id, content_kind, subtopic_id FROM interest_topics") if table_exists(conn, "interest_topics") else None
            n_items = int((content["content_kind"] == "item").sum())
            phase.detail = f"{n_items:,} items and {content.height - n_items:,} comments"
        vectors = series_to_vectors(content["embedding"], 0)
        params = config.params()
        previous_fine, previous_coarse = {}, {}
        if previous_nodes is not None and previous_nodes.height:
            for row in previous_nodes.iter_rows(named=True):
                target = previous_coarse if row["level"] == "topic" else previous_fine
                target[parse_number(row["node_id"], 0 if row["level"] == "topic" else 1)] = np.asarray(row["centroid"], dtype=np.float32)
        with phases.phase("distinct texts") as phase:
            # Identical and near-identical texts are clustered once; every copy gets its text's cluster.
            keys = [near_duplicate_key(t) for t in content["text_clean"].to_list()]
            phase.detail = f"{len(set(keys)):,} distinct of {len(keys):,} texts"
        clustered = cluster_distinct(vectors, params, keys, on_phase=phases.record)
        with phases.phase("identities") as phase:
            result, stability, lineage = stabilise_ids(clustered, vectors, previous_fine, previous_coarse, config.identity_min_similarity)
            phase.detail = "first run" if not previous_fine else f"{stability.get('fine_matched_share', 0):.0%} of subtopics kept their id"
        subtopics, topics = node_ids(result.fine, result.coarse)
        with phases.phase("keywords") as phase:
            title_tokens = [tokenize(t) if t else None for t in content["title"].to_list()]
            hierarchy = build_hierarchy(
                subtopics, topics, vectors, content["tokens"].to_list(),
                keyword_rows=result.distinct_rows, title_tokens=title_tokens,
            )
            item_assignments = pl.DataFrame({"item_id": content["content_id"], "subtopic_id": subtopics, "topic_id": topics}).filter(content["content_kind"] == "item")
            catalogue_scores = catalogue_agreement(item_assignments, catalogue)
            hierarchy = hierarchy.join(dominant_categories(item_assignments, catalogue), on="node_id", how="left")
            labels = dict(zip(hierarchy["node_id"], hierarchy["label"]))
            phase.detail = f"{int((hierarchy['level'] == 'topic').sum())} topics and {int((hierarchy['level'] == 'subtopic').sum())} subtopics labelled"
        with phases.phase("quality and pictures") as phase:
            fine_names = {f: subtopic_id(c, f) for f, c in result.fine_to_coarse.items()}
            coarse_names = {c: topic_id(c) for c in set(result.fine_to_coarse.values())}
            report = clustering_report(
                result, vectors, params, fine_names,
                fine_labels={f: labels.get(n, "") for f, n in fine_names.items()},
                coarse_names=coarse_names,
                coarse_labels={c: labels.get(n, "") for c, n in coarse_names.items()},
                coarse_title="topic",
            )
            metrics = {**report.metrics, **catalogue_scores}
            tree = hierarchy_as_tree(hierarchy)
            tree_picture = topic_tree_png(tree)
            phase.detail = f"silhouette {metrics.get('silhouette', float('nan')):.3f} over {int(metrics['n_fine_clusters'])} subtopics"
        assignments = content.select("content_id", "content_kind").with_columns(
            pl.Series("subtopic_id", subtopics, dtype=pl.String),
            pl.Series("topic_id", topics, dtype=pl.String),
            pl.Series("is_noise", result.fine_raw == NOISE),
            pl.Series("noise_assigned", result.noise_assigned),
            pl.Series("membership_probability", result.probabilities),
        )
        summary = hierarchy.drop("centroid").with_columns(pl.col("keywords").list.join(" "))
        subtopic_nodes = hierarchy.filter(pl.col("level") == "subtopic").sort("node_id")
        assignment_model = CentroidAssignmentModel(
            subtopic_nodes["node_id"].to_list(),
            subtopic_nodes["parent_id"].to_list(),
            series_to_vectors(subtopic_nodes["centroid"], vectors.shape[1]),
            embedder.cache_key(),
        )
        if previous_assignments is not None:
            overlap, changes = overlap_changes(previous_assignments, assignments, ["content_id", "content_kind"], "subtopic_id", 1)
            stability.update(overlap)
            lineage["fine"].update(changes)
        metrics.update({f"stability/{k}": v for k, v in stability.items()})
        run_params = {**asdict(params), "model": embedder.cache_key(), "n_items": n_items, "n_comments": content.height - n_items}
        with phases.phase("mlflow logging") as phase:
            logged = _log_artifacts(
                run, run_params, metrics, report.per_cluster,
                {
                    "cluster_map.png": report.cluster_map,
                    "silhouette_per_cluster.png": report.silhouette_bars,
                    "topic_tree.png": tree_picture,
                    ASSIGNMENT_MODEL_FILE: assignment_model.to_bytes(),
                },
                {"hierarchy.json": tree, "lineage.json": lineage},
                {"cluster_summary.csv": summary},
            )
            from interest_pipeline.defs.clustering.assignment_pyfunc import log_assignment_model  # mlflow.pyfunc loads slowly

            model_id = log_assignment_model(run.client, run.experiment_id, run.run_id, assignment_model)
            phase.detail = f"{logged} artifacts and the logged model {model_id}"
        assignments = assignments.with_columns(pl.lit(run.run_id).alias("mlflow_run_id"))
        hierarchy = hierarchy.with_columns(pl.lit(run.run_id).alias("mlflow_run_id"))
        with phases.phase("store") as phase:
            with warehouse.get_connection() as conn:
                replace_table(conn, "interest_topics", assignments)
                replace_table(conn, "interest_hierarchy", hierarchy)
            phase.detail = f"{assignments.height:,} assignments and {hierarchy.height:,} nodes"
        runtime = time.perf_counter() - start
        run.log_metrics({**phases.as_metrics(), "runtime_seconds": runtime})

    quality = _quality_summary(metrics)
    outputs = {
        "interest_topics": {
            "dagster/row_count": assignments.height,
            "mlflow_run_id": MetadataValue.url(run.url),
            **quality,
            "cluster_map": MetadataValue.md(markdown_image(report.cluster_map, "cluster map")),
            "silhouette_per_cluster": MetadataValue.md(markdown_image(report.silhouette_bars, "silhouette per cluster")),
            "per_cluster": MetadataValue.md(_per_cluster_preview(report.per_cluster)),
            "runtime_seconds": round(runtime, 2),
            "phase_seconds": MetadataValue.json({k: round(v, 2) for k, v in phases.seconds.items()}),
            "distinct_points": result.n_distinct,
            "fitted_points": len(result.reduced),
            "stability": MetadataValue.json({k: round(v, 4) for k, v in stability.items()} or {"first_run": True}),
            "catalogue_agreement": MetadataValue.json({k.removeprefix("catalogue/"): round(v, 4) for k, v in catalogue_scores.items()} or {"no_category_columns": True}),
        },
        "interest_hierarchy": {
            "dagster/row_count": hierarchy.height,
            "mlflow_run_id": MetadataValue.url(run.url),
            "topics": int((hierarchy["level"] == "topic").sum()),
            "subtopics": int((hierarchy["level"] == "subtopic").sum()),
            "topic_tree": MetadataValue.md(tree_as_markdown(tree)),
            "topic_tree_picture": MetadataValue.md(markdown_image(tree_picture, "topic tree")),
        },
    }
    checks = {"interest_topics": [_quality_check("interest_topics", metrics, config)]}
    yield from _results_for_selection(context, outputs, checks)


def _results_for_selection(context: AssetExecutionContext, outputs: dict[str, dict], checks: dict[str, list[AssetCheckResult]]):
    """A MaterializeResult per selected asset; an asset written by the same step but not selected
    gets a runtime materialization, so its history in Dagster matches its table."""
    selected = context.selected_asset_keys
    chosen_checks = context.selected_asset_check_keys
    for key, metadata in outputs.items():
        results = [c for c in checks.get(key, []) if AssetCheckKey(AssetKey(key), c.check_name) in chosen_checks]
        if AssetKey(key) in selected:
            yield MaterializeResult(asset_key=key, metadata=metadata, check_results=results)
        else:
            others = ", ".join(sorted(k.to_user_string() for k in selected))
            context.log.info(f"{key} comes from the same clustering as {others}: rewritten and recorded too")
            yield AssetMaterialization(asset_key=key, metadata=metadata, description=f"Written by the clustering step of {others}.")


@asset(
    pool=WAREHOUSE_POOL,
    deps=["fused_user_features"],
    group_name=GROUP, tags=stage_tags(GROUP), automation_condition=recluster_on_cadence,
    kinds={"duckdb", "hdbscan", "mlflow"},
    description="User segments: HDBSCAN over the fused user vectors after reduction, with a coarse and a fine level.",
    check_specs=[_quality_check_spec("user_segments")],
)
def user_segments(context: AssetExecutionContext, config: SegmentConfig, warehouse: DuckDBResource, mlflow: MlflowTracking) -> MaterializeResult:
    start = time.perf_counter()
    phases = step_phases(context)
    with _open_run(context, mlflow, "user_segments", SEGMENTS_EXPERIMENT_DESCRIPTION) as run:
        context.log.info(f"MLflow run {run.url}")
        with phases.phase("read") as phase:
            with warehouse.get_connection() as conn:
                users = read_frame(conn, "SELECT user_id, is_cold_start, embedding FROM fused_user_features ORDER BY user_id")
                alpha = conn.execute("SELECT any_value(alpha) FROM fused_user_features").fetchone()[0]
                previous = read_frame(conn, "SELECT user_id, segment_coarse, segment_fine FROM user_segments") if table_exists(conn, "user_segments") else None
            vectors = series_to_vectors(users["embedding"], 0)
            usable = np.linalg.norm(vectors, axis=1) > 0
            phase.detail = f"{users.height:,} users, {int(usable.sum()):,} with a vector"
        params = config.params()
        # Previous segments have no stored centroids: take them from today's vectors of their members.
        previous_fine, previous_coarse = {}, {}
        if previous is not None and previous.height:
            joined = users.select("user_id", pl.Series("_row", np.arange(users.height))).join(previous.drop_nulls(), on="user_id")
            rows = joined["_row"].to_numpy()
            previous_fine = cluster_centroids(vectors[rows], np.array([parse_number(v, 1) for v in joined["segment_fine"]]))
            previous_coarse = cluster_centroids(vectors[rows], np.array([parse_number(v, 0) for v in joined["segment_coarse"]]))
        clustered = cluster_distinct(vectors[usable], params, on_phase=phases.record)
        with phases.phase("identities") as phase:
            result, stability, lineage = stabilise_ids(clustered, vectors[usable], previous_fine, previous_coarse, config.identity_min_similarity)
            phase.detail = "first run" if not previous_fine else f"{stability.get('fine_matched_share', 0):.0%} of segments kept their id"
        fine_ids = [None if f == NOISE else f"g{int(c):02d}.f{int(f):03d}" for f, c in zip(result.fine, result.coarse)]
        coarse_ids = [None if c == NOISE else f"g{int(c):02d}" for c in result.coarse]
        with phases.phase("quality and pictures") as phase:
            report = clustering_report(
                result, vectors[usable], params,
                {f: f"g{c:02d}.f{f:03d}" for f, c in result.fine_to_coarse.items()},
                coarse_names={c: f"g{c:02d}" for c in set(result.fine_to_coarse.values())},
                coarse_title="coarse segment",
            )
            metrics = dict(report.metrics)
            phase.detail = f"silhouette {metrics.get('silhouette', float('nan')):.3f} over {int(metrics['n_fine_clusters'])} segments"

        def full(values, fill):
            out = np.full(len(users), fill, dtype=object)
            out[usable] = values
            return out.tolist()

        table = users.select("user_id", "is_cold_start").with_columns(
            pl.Series("segment_coarse", full(coarse_ids, None), dtype=pl.String),
            pl.Series("segment_fine", full(fine_ids, None), dtype=pl.String),
            pl.Series("is_noise", full(result.fine_raw == NOISE, True), dtype=pl.Boolean),
            pl.Series("noise_assigned", full(result.noise_assigned, False), dtype=pl.Boolean),
            pl.Series("membership_probability", full(result.probabilities, 0.0), dtype=pl.Float32),
        )
        if previous is not None:
            overlap, changes = overlap_changes(previous, table, ["user_id"], "segment_fine", 1)
            stability.update(overlap)
            lineage["fine"].update(changes)
        metrics.update({f"stability/{k}": v for k, v in stability.items()})
        summary = table.group_by("segment_coarse", "segment_fine").agg(pl.len().alias("users"), pl.col("is_cold_start").mean().alias("cold_start_share")).sort("segment_fine")
        with phases.phase("mlflow logging") as phase:
            logged = _log_artifacts(
                run,
                {**asdict(params), "alpha": alpha, "n_users": int(usable.sum())},
                metrics,
                report.per_cluster,
                {"cluster_map.png": report.cluster_map, "silhouette_per_cluster.png": report.silhouette_bars},
                {
                    "segments.json": {c: sorted({f for f, cc in zip(fine_ids, coarse_ids) if cc == c and f}) for c in sorted(set(coarse_ids) - {None})},
                    "lineage.json": lineage,
                },
                {"cluster_summary.csv": summary},
            )
            phase.detail = f"{logged} artifacts"
        table = table.with_columns(pl.lit(run.run_id).alias("mlflow_run_id"))
        with phases.phase("store") as phase:
            with warehouse.get_connection() as conn:
                replace_table(conn, "user_segments", table)
            phase.detail = f"{table.height:,} users"
        runtime = time.perf_counter() - start
        run.log_metrics({**phases.as_metrics(), "runtime_seconds": runtime})
    return MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "mlflow_run_id": MetadataValue.url(run.url),
            **_quality_summary(metrics),
            "segments": MetadataValue.md(markdown_table(summary, max_rows=30)),
            "cluster_map": MetadataValue.md(markdown_image(report.cluster_map, "segment map")),
            "silhouette_per_cluster": MetadataValue.md(markdown_image(report.silhouette_bars, "silhouette per segment")),
            "per_cluster": MetadataValue.md(_per_cluster_preview(report.per_cluster.drop("label"))),
            "runtime_seconds": round(runtime, 2),
            "phase_seconds": MetadataValue.json({k: round(v, 2) for k, v in phases.seconds.items()}),
            "stability": MetadataValue.json({k: round(v, 4) for k, v in stability.items()} or {"first_run": True}),
        },
        check_results=[_quality_check("user_segments", metrics, config)],
    )


ASSIGNMENTS_TABLE = "incremental_topic_assignments"
_CONTENT_KEY_SQL = "content_kind || chr(31) || content_id"
# Items and texts that the last clustering did not see.
_NEW_CONTENT_SQL = (
    "SELECT c.content_id, c.content_kind, c.embedding FROM ("
    " SELECT item_id AS content_id, 'item' AS content_kind, embedding FROM item_embeddings"
    " UNION ALL SELECT comment_id, 'comment', embedding FROM comment_embeddings) c"
    " ANTI JOIN interest_topics t ON t.content_id = c.content_id AND t.content_kind = c.content_kind"
)


class AssignmentConfig(RebuildConfig):
    min_similarity: float = Field(default=0.5, ge=-1, le=1, description="Cosine similarity to a subtopic centroid needed to join it; below it a new text stays noise.")


@asset(
    pool=WAREHOUSE_POOL,
    deps=["interest_topics", "interest_hierarchy", "comment_embeddings", "item_embeddings"],
    group_name=GROUP, tags=stage_tags(GROUP), automation_condition=follow_new_data,
    kinds={"duckdb", "polars"},
    description="Between re-clusterings, items and texts that arrived after the last clustering join the existing "
    "taxonomy by their nearest subtopic centroid (no refit), using the assignment model stored with the clustering's MLflow run; "
    "below the similarity threshold they stay noise.",
)
def incremental_topic_assignments(
    config: AssignmentConfig, warehouse: DuckDBResource, mlflow: MlflowTracking, embedder: SentenceEmbedder
) -> MaterializeResult:
    """Loads the assignment model that the last ``interest_topics`` run stored in MLflow; content
    assigned before (same embedding, same taxonomy run) keeps its row."""
    with warehouse.get_connection() as conn:
        run_ids = conn.execute("SELECT DISTINCT mlflow_run_id FROM interest_hierarchy WHERE mlflow_run_id IS NOT NULL").fetchall()
        if len(run_ids) != 1:
            raise ValueError(f"interest_hierarchy should come from one clustering run, found MLflow run ids {[r[0] for r in run_ids]}")
        run_id = run_ids[0][0]
        conn.execute(f"CREATE OR REPLACE TEMP TABLE _new_content AS SELECT *, {_CONTENT_KEY_SQL} AS key FROM ({_NEW_CONTENT_SQL})")
        changes = find_changes(
            conn, ASSIGNMENTS_TABLE, key_fingerprints(conn, "SELECT * FROM _new_content", "key", ["embedding"]),
            {"taxonomy_mlflow_run_id": run_id, "min_similarity": config.min_similarity, "model": embedder.cache_key()}, config.full_refresh,
        )
        new_content = read_for_changes(
            conn, "SELECT content_id, content_kind, embedding FROM _new_content {only_changed} ORDER BY content_kind DESC, content_id", changes, "key"
        )
    model = CentroidAssignmentModel.from_bytes(mlflow.load_artifact(run_id, ASSIGNMENT_MODEL_FILE), f"MLflow run {run_id}, {ASSIGNMENT_MODEL_FILE}")
    if model.embedding_model != embedder.cache_key():
        raise ValueError(
            f"the taxonomy of MLflow run {run_id} was built on embeddings of {model.embedding_model}, the embedder is now "
            f"{embedder.cache_key()}: re-materialize interest_topics before assigning new content"
        )
    subtopics, topics, similarity = model.assign(series_to_vectors(new_content["embedding"], 0), config.min_similarity)
    table = new_content.select("content_id", "content_kind").with_columns(
        pl.Series("subtopic_id", subtopics, dtype=pl.String),
        pl.Series("topic_id", topics, dtype=pl.String),
        pl.Series("similarity", similarity),
        pl.Series("is_noise", [s is None for s in subtopics], dtype=pl.Boolean),
        pl.lit(run_id, dtype=pl.String).alias("taxonomy_mlflow_run_id"),
    )
    with warehouse.get_connection() as conn:
        store_changes(conn, changes, table, _CONTENT_KEY_SQL)
        total, noise = conn.execute(f"SELECT count(*), count(*) FILTER (is_noise) FROM {ASSIGNMENTS_TABLE}").fetchone()
    return MaterializeResult(
        metadata={
            "dagster/row_count": total,
            **changes.summary,
            "assigned": total - noise,
            "left_as_noise": noise,
            "min_similarity": config.min_similarity,
            "taxonomy_mlflow_run_id": run_id,
            "taxonomy_mlflow_run": MetadataValue.url(mlflow.url_of_run(run_id)),
        }
    )
