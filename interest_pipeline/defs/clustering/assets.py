"""Clustering: the interest taxonomy over content, and user segments over fused features.

Each materialization is one MLflow run (experiment named after the asset) whose id is
stored with the cluster tables and shown in the Dagster metadata. Both clusterings follow the
steps of run_steps.py; their run configuration is in config.py.
"""

import time
from dataclasses import asdict

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, MetadataValue
from dagster_duckdb import DuckDBResource

from interest_pipeline.core.clustering.assignment_model import FILE_NAME as ASSIGNMENT_MODEL_FILE
from interest_pipeline.core.clustering.assignment_model import CentroidAssignmentModel
from interest_pipeline.core.clustering.catalogue_agreement import (
    CATEGORY_COLUMNS,
    catalogue_agreement,
    dominant_categories,
)
from interest_pipeline.core.clustering.cluster_identity import cluster_centroids, parse_number
from interest_pipeline.core.clustering.density_clustering import NOISE
from interest_pipeline.core.clustering.hierarchy import (
    build_hierarchy,
    hierarchy_as_tree,
    node_ids,
    subtopic_id,
    topic_id,
    tree_as_markdown,
)
from interest_pipeline.core.clustering.plots import markdown_image, topic_tree_png
from interest_pipeline.core.clustering.report import clustering_report
from interest_pipeline.core.common.tokenize import tokenize
from interest_pipeline.core.common.vectors import series_to_vectors
from interest_pipeline.core.text.languages import ALL_LANGUAGES, center_by_language, model_languages
from interest_pipeline.core.text.models import model_of_cache_key
from interest_pipeline.core.text.near_duplicates import near_duplicate_key
from interest_pipeline.defs.clustering.config import AssignmentConfig, SegmentConfig, TopicsConfig
from interest_pipeline.defs.clustering.run_steps import (
    cluster_with_identities,
    clustering_metadata,
    log_artifacts,
    open_run,
    quality_check,
    quality_check_spec,
    record_overlap,
    results_for_selection,
    stability_metadata,
)
from interest_pipeline.defs.conventions import (
    follow_new_data,
    recluster_on_cadence,
    warehouse_asset,
    warehouse_multi_asset,
)
from interest_pipeline.defs.incremental import find_changes, key_fingerprints, read_for_changes, store_changes
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.resources import MlflowTracking
from interest_pipeline.defs.table_schemas import schema_check_result
from interest_pipeline.defs.tracking import step_phases
from interest_pipeline.defs.warehouse import (
    embedding_model_key,
    quote_identifier,
    read_frame,
    read_parameters,
    replace_table,
    table_columns,
    table_exists,
)

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


@warehouse_multi_asset(
    specs=[
        AssetSpec(
            "interest_topics",
            deps=["item_embeddings", "comment_embeddings", "item_catalog", "tokenized_comments"],
            description="HDBSCAN over the content embeddings (items and comments) after dimension reduction: "
            "each content point's subtopic and topic, noise kept and flagged.",
            automation_condition=recluster_on_cadence,
            kinds={"hdbscan", "mlflow"},
        ),
        AssetSpec(
            "interest_hierarchy",
            deps=["item_embeddings", "comment_embeddings"],
            description="The interest taxonomy: root -> topics -> subtopics, each node with parent, size, "
            "centroid and a c-TF-IDF keyword label.",
            automation_condition=recluster_on_cadence,
            kinds={"mlflow"},
        ),
    ],
    check_specs=[quality_check_spec("interest_topics")],
    can_subset=True,
)
def interest_topics(
    context: AssetExecutionContext,
    config: TopicsConfig,
    warehouse: DuckDBResource,
    mlflow: MlflowTracking,
):
    """Cluster items and comments together; subtopics are fine clusters, topics coarse ones.

    Both tables come from one clustering, so selecting either asset rebuilds both: the one not
    selected is recorded as a materialization of the same run, never left stale.
    """
    start = time.perf_counter()
    phases = step_phases(context)
    with open_run(context, mlflow, "interest_topics", TOPICS_EXPERIMENT_DESCRIPTION, phases) as run:
        context.log.info(f"MLflow run {run.url}")
        with phases.phase("read") as phase:
            with warehouse.get_connection() as conn:
                embedding_model = embedding_model_key(conn)
                model_reason = read_parameters(conn, "comment_embeddings").get("model_reason", "")
                content = read_frame(
                    conn,
                    "SELECT e.item_id AS content_id, 'item' AS content_kind, c.text_clean, c.tokens, c.title, c.language, "
                    "e.embedding FROM item_embeddings e JOIN item_catalog c USING (item_id) "
                    "UNION ALL "
                    "SELECT e.comment_id, 'comment', t.text_clean, t.tokens, NULL, t.language, e.embedding "
                    "FROM comment_embeddings e JOIN tokenized_comments t USING (comment_id) "
                    "ORDER BY content_kind DESC, content_id",
                )
                catalogue_columns = [c for c in CATEGORY_COLUMNS if c in table_columns(conn, "item_catalog")]
                catalogue = read_frame(
                    conn,
                    "SELECT item_id"
                    + "".join(f", {quote_identifier(c)}" for c in catalogue_columns)
                    + " FROM item_catalog",
                )
                previous_nodes = (
                    read_frame(conn, "SELECT node_id, level, centroid FROM interest_hierarchy WHERE level <> 'root'")
                    if table_exists(conn, "interest_hierarchy")
                    else None
                )
                previous_assignments = (
                    read_frame(conn, "SELECT content_id, content_kind, subtopic_id FROM interest_topics")
                    if table_exists(conn, "interest_topics")
                    else None
                )
            n_items = int((content["content_kind"] == "item").sum())
            phase.detail = f"{n_items:,} items and {content.height - n_items:,} comments"
            vectors = series_to_vectors(content["embedding"], 0)
            previous_fine, previous_coarse = {}, {}
            if previous_nodes is not None and previous_nodes.height:
                for row in previous_nodes.iter_rows(named=True):
                    target = previous_coarse if row["level"] == "topic" else previous_fine
                    target[parse_number(row["node_id"], 0 if row["level"] == "topic" else 1)] = np.asarray(
                        row["centroid"], dtype=np.float32
                    )
        params = config.params()
        with phases.phase("distinct texts") as phase:
            # Identical and near-identical texts are clustered once; every copy gets its text's cluster.
            keys = [near_duplicate_key(t) for t in content["text_clean"].to_list()]
            phase.detail = f"{len(set(keys)):,} distinct of {len(keys):,} texts"
            # A model that reads several languages: cluster with each language's mean removed.
            cluster_vectors, centred_languages = None, []
            if config.center_languages and model_languages(model_of_cache_key(embedding_model)) == ALL_LANGUAGES:
                centred, centred_languages = center_by_language(vectors, content["language"].to_list())
                if centred_languages:
                    cluster_vectors = centred
                    phase.detail += f"; clustered with the means of {', '.join(centred_languages)} removed"
        result, stability, lineage = cluster_with_identities(
            phases,
            vectors,
            params,
            (previous_fine, previous_coarse),
            config.identity_min_similarity,
            "subtopics",
            keys,
            cluster_vectors,
        )
        subtopics, topics = node_ids(result.fine, result.coarse)
        with phases.phase("keywords") as phase:
            title_tokens = [tokenize(t) if t else None for t in content["title"].to_list()]
            hierarchy = build_hierarchy(
                subtopics,
                topics,
                vectors,
                content["tokens"].to_list(),
                keyword_rows=result.distinct_rows,
                title_tokens=title_tokens,
            )
            item_assignments = pl.DataFrame(
                {"item_id": content["content_id"], "subtopic_id": subtopics, "topic_id": topics}
            ).filter(content["content_kind"] == "item")
            catalogue_scores = catalogue_agreement(item_assignments, catalogue)
            hierarchy = hierarchy.join(dominant_categories(item_assignments, catalogue), on="node_id", how="left")
            labels = dict(zip(hierarchy["node_id"], hierarchy["label"]))
            phase.detail = f"{int((hierarchy['level'] == 'topic').sum())} topics and {int((hierarchy['level'] == 'subtopic').sum())} subtopics labelled"
        with phases.phase("quality and pictures") as phase:
            fine_names = {f: subtopic_id(c, f) for f, c in result.fine_to_coarse.items()}
            coarse_names = {c: topic_id(c) for c in set(result.fine_to_coarse.values())}
            report = clustering_report(
                result,
                vectors,
                params,
                fine_names,
                fine_labels={f: labels.get(n, "") for f, n in fine_names.items()},
                coarse_names=coarse_names,
                coarse_labels={c: labels.get(n, "") for c, n in coarse_names.items()},
                coarse_title="topic",
            )
            metrics = {**report.metrics, **catalogue_scores}
            tree = hierarchy_as_tree(hierarchy)
            tree_picture = topic_tree_png(tree)
            phase.detail = f"silhouette {metrics.get('silhouette', float('nan')):.3f} over {int(metrics['n_fine_clusters'])} subtopics"
        with phases.phase("assignments and stability") as phase:
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
                embedding_model,
            )
            record_overlap(
                stability, lineage, previous_assignments, assignments, ["content_id", "content_kind"], "subtopic_id"
            )
            metrics.update({f"stability/{k}": v for k, v in stability.items()})
            phase.detail = f"{assignments.height:,} assignments" + (
                "" if previous_assignments is None else f", compared with {previous_assignments.height:,} before"
            )
        run_params = {
            **asdict(params),
            "model": embedding_model,
            "model_reason": model_reason,
            "languages_centred": ",".join(centred_languages) or "none",
            "n_items": n_items,
            "n_comments": content.height - n_items,
        }
        with phases.phase("mlflow logging") as phase:
            logged = log_artifacts(
                run,
                run_params,
                metrics,
                report.per_cluster,
                {
                    "cluster_map.png": report.cluster_map,
                    "silhouette_per_cluster.png": report.silhouette_bars,
                    "topic_tree.png": tree_picture,
                    ASSIGNMENT_MODEL_FILE: assignment_model.to_bytes(),
                },
                {"hierarchy.json": tree, "lineage.json": lineage},
                {"cluster_summary.csv": summary},
            )
            from interest_pipeline.defs.clustering.assignment_pyfunc import (
                log_assignment_model,  # mlflow.pyfunc loads slowly
            )

            model_id = log_assignment_model(run.client, run.experiment_id, run.run_id, assignment_model)
            phase.detail = f"{logged} artifacts and the logged model {model_id}"
        assignments = assignments.with_columns(pl.lit(run.run_id).alias("mlflow_run_id"))
        hierarchy = hierarchy.with_columns(pl.lit(run.run_id).alias("mlflow_run_id"))
        with phases.phase("store") as phase:
            with warehouse.get_connection() as conn:
                replace_table(conn, "interest_topics", assignments)
                replace_table(conn, "interest_hierarchy", hierarchy)
            phase.detail = f"{assignments.height:,} assignments and {hierarchy.height:,} nodes"
        with phases.phase("checks") as phase, warehouse.get_connection() as conn:
            checks = {
                "interest_topics": [
                    quality_check("interest_topics", metrics, config),
                    schema_check_result(conn, "interest_topics"),
                ],
                "interest_hierarchy": [schema_check_result(conn, "interest_hierarchy")],
            }
            phase.detail = f"{sum(c.passed for cs in checks.values() for c in cs)} of 3 passed"
        runtime = time.perf_counter() - start
        run.log_metrics({**phases.as_metrics(), "runtime_seconds": runtime})

    outputs = {
        "interest_topics": {
            "dagster/row_count": assignments.height,
            **clustering_metadata(run, metrics, report, "cluster", report.per_cluster, runtime, phases),
            "distinct_points": result.n_distinct,
            "fitted_points": len(result.reduced),
            "stability": stability_metadata(stability),
            "catalogue_agreement": MetadataValue.json(
                {k.removeprefix("catalogue/"): round(v, 4) for k, v in catalogue_scores.items()}
                or {"no_category_columns": True}
            ),
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
    yield from results_for_selection(context, outputs, checks)


@warehouse_asset(
    deps=["fused_user_features"],
    automation_condition=recluster_on_cadence,
    kinds={"hdbscan", "mlflow"},
    description="User segments: HDBSCAN over the fused user vectors after reduction, with a coarse and a fine level.",
    check_specs=[quality_check_spec("user_segments")],
)
def user_segments(
    context: AssetExecutionContext, config: SegmentConfig, warehouse: DuckDBResource, mlflow: MlflowTracking
) -> MaterializeResult:
    start = time.perf_counter()
    phases = step_phases(context)
    with open_run(context, mlflow, "user_segments", SEGMENTS_EXPERIMENT_DESCRIPTION, phases) as run:
        context.log.info(f"MLflow run {run.url}")
        with phases.phase("read") as phase:
            with warehouse.get_connection() as conn:
                users = read_frame(
                    conn, "SELECT user_id, is_cold_start, embedding FROM fused_user_features ORDER BY user_id"
                )
                alpha = conn.execute("SELECT any_value(alpha) FROM fused_user_features").fetchone()[0]
                previous = (
                    read_frame(conn, "SELECT user_id, segment_coarse, segment_fine FROM user_segments")
                    if table_exists(conn, "user_segments")
                    else None
                )
            vectors = series_to_vectors(users["embedding"], 0)
            usable = np.linalg.norm(vectors, axis=1) > 0
            phase.detail = f"{users.height:,} users, {int(usable.sum()):,} with a vector"
        params = config.params()
        # Previous segments have no stored centroids: take them from today's vectors of their members.
        previous_fine, previous_coarse = {}, {}
        if previous is not None and previous.height:
            joined = users.select("user_id", pl.Series("_row", np.arange(users.height))).join(
                previous.drop_nulls(), on="user_id"
            )
            rows = joined["_row"].to_numpy()
            previous_fine = cluster_centroids(
                vectors[rows], np.array([parse_number(v, 1) for v in joined["segment_fine"]])
            )
            previous_coarse = cluster_centroids(
                vectors[rows], np.array([parse_number(v, 0) for v in joined["segment_coarse"]])
            )
        result, stability, lineage = cluster_with_identities(
            phases,
            vectors[usable],
            params,
            (previous_fine, previous_coarse),
            config.identity_min_similarity,
            "segments",
        )
        fine_ids = [None if f == NOISE else f"g{int(c):02d}.f{int(f):03d}" for f, c in zip(result.fine, result.coarse)]
        coarse_ids = [None if c == NOISE else f"g{int(c):02d}" for c in result.coarse]
        with phases.phase("quality and pictures") as phase:
            report = clustering_report(
                result,
                vectors[usable],
                params,
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
        record_overlap(stability, lineage, previous, table, ["user_id"], "segment_fine")
        metrics.update({f"stability/{k}": v for k, v in stability.items()})
        summary = (
            table.group_by("segment_coarse", "segment_fine")
            .agg(pl.len().alias("users"), pl.col("is_cold_start").mean().alias("cold_start_share"))
            .sort("segment_fine")
        )
        with phases.phase("mlflow logging") as phase:
            logged = log_artifacts(
                run,
                {**asdict(params), "alpha": alpha, "n_users": int(usable.sum())},
                metrics,
                report.per_cluster,
                {"cluster_map.png": report.cluster_map, "silhouette_per_cluster.png": report.silhouette_bars},
                {
                    "segments.json": {
                        c: sorted({f for f, cc in zip(fine_ids, coarse_ids) if cc == c and f})
                        for c in sorted(set(coarse_ids) - {None})
                    },
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
            **clustering_metadata(run, metrics, report, "segment", report.per_cluster.drop("label"), runtime, phases),
            "segments": MetadataValue.md(markdown_table(summary, max_rows=30)),
            "stability": stability_metadata(stability),
        },
        check_results=[quality_check("user_segments", metrics, config)],
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


@warehouse_asset(
    deps=["interest_topics", "interest_hierarchy", "comment_embeddings", "item_embeddings"],
    automation_condition=follow_new_data,
    kinds={"polars"},
    description="Between re-clusterings, items and texts that arrived after the last clustering join the existing "
    "taxonomy by their nearest subtopic centroid (no refit), using the assignment model stored with the clustering's MLflow run; "
    "below the similarity threshold they stay noise.",
)
def incremental_topic_assignments(
    config: AssignmentConfig, warehouse: DuckDBResource, mlflow: MlflowTracking
) -> MaterializeResult:
    """Loads the assignment model that the last ``interest_topics`` run stored in MLflow; content
    assigned before (same embedding, same taxonomy run) keeps its row."""
    with warehouse.get_connection() as conn:
        run_ids = conn.execute(
            "SELECT DISTINCT mlflow_run_id FROM interest_hierarchy WHERE mlflow_run_id IS NOT NULL"
        ).fetchall()
        if len(run_ids) != 1:
            raise ValueError(
                f"interest_hierarchy should come from one clustering run, found MLflow run ids {[r[0] for r in run_ids]}"
            )
        run_id = run_ids[0][0]
        embedding_model = embedding_model_key(conn)
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE _new_content AS SELECT *, {_CONTENT_KEY_SQL} AS key FROM ({_NEW_CONTENT_SQL})"
        )
        changes = find_changes(
            conn,
            ASSIGNMENTS_TABLE,
            key_fingerprints(conn, "SELECT * FROM _new_content", "key", ["embedding"]),
            {"taxonomy_mlflow_run_id": run_id, "min_similarity": config.min_similarity, "model": embedding_model},
            config.full_refresh,
        )
        new_content = read_for_changes(
            conn,
            "SELECT content_id, content_kind, embedding FROM _new_content {only_changed} ORDER BY content_kind DESC, content_id",
            changes,
            "key",
        )
    model = CentroidAssignmentModel.from_bytes(
        mlflow.load_artifact(run_id, ASSIGNMENT_MODEL_FILE), f"MLflow run {run_id}, {ASSIGNMENT_MODEL_FILE}"
    )
    if model.embedding_model != embedding_model:
        raise ValueError(
            f"the taxonomy of MLflow run {run_id} was built on embeddings of {model.embedding_model}, the embeddings are "
            f"now of {embedding_model}: re-materialize interest_topics before assigning new content"
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
