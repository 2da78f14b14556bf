"""The whole graph materialized once on a small generated sample, then inspected."""

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

EXPECTED_TABLES = {
    "raw_behavior_logs",
    "rejected_events",
    "item_catalog",
    "rejected_items",
    "tokenized_comments",
    "embedding_cache",
    "comment_embeddings",
    "item_embeddings",
    "user_behavior_features",
    "user_text_features",
    "fused_user_features",
    "interest_topics",
    "interest_hierarchy",
    "user_segments",
    "user_interest_layers",
    "incremental_topic_assignments",
    "takeup_models",
    "segment_peer_shares",
    "interest_expansion",
    "interest_evaluation",
    "input_fingerprints",
    "input_contexts",
    "append_state",
}


def query(run, sql) -> pl.DataFrame:
    with duckdb.connect(str(run.warehouse), read_only=True) as conn:
        return conn.execute(sql).pl()


def test_both_jobs_succeed(pipeline_run):
    assert pipeline_run.ingest_result.success
    assert pipeline_run.model_result.success


def test_every_table_is_in_the_warehouse(pipeline_run):
    tables = set(query(pipeline_run, "SELECT table_name FROM information_schema.tables")["table_name"])
    assert EXPECTED_TABLES <= tables


def test_rows_are_conserved_per_partition(pipeline_run, small_sample):
    """Every line of every event file is accepted, rejected or a counted duplicate."""
    materializations = [
        m
        for m in pipeline_run.ingest_result.get_asset_materialization_events()
        if m.asset_key.to_user_string() == "raw_behavior_logs"
    ]
    metadata = materializations[0].materialization.metadata
    read, accepted = metadata["run_rows_read"].value, metadata["run_rows_accepted"].value
    rejected, duplicates = metadata["run_rows_rejected"].value, metadata["run_rows_duplicate"].value
    assert read == accepted + rejected + duplicates
    assert metadata["run_partitions"].value == 10 == len(materializations)
    # one run covered every day, and each day's materialization holds that day's own counts
    own = {m.partition: m.materialization.metadata for m in materializations}
    stored = dict(
        query(
            pipeline_run,
            "SELECT strftime(log_date, '%Y-%m-%d') AS day, count(*) AS n FROM raw_behavior_logs GROUP BY ALL",
        ).iter_rows()
    )
    assert {day: m["dagster/row_count"].value for day, m in own.items()} == stored
    # beside each day's row count, the whole table's
    assert metadata["table_rows_all_partitions"].value == sum(stored.values()) == accepted
    assert sum(m["rows_read"].value for m in own.values()) == read
    assert all(
        m["rows_read"].value == m["rows_accepted"].value + m["rows_rejected"].value + m["rows_duplicate"].value
        for m in own.values()
    )
    lines_in_csv = sum(pl.read_csv(p, infer_schema=False).height for p in (small_sample / "events").glob("*.csv"))
    lines_in_jsonl = sum(len(p.read_text().splitlines()) for p in (small_sample / "events").glob("*.jsonl"))
    rows_in_parquet = sum(pl.read_parquet(p).height for p in (small_sample / "events").glob("*.parquet"))
    assert read == lines_in_csv + lines_in_jsonl + rows_in_parquet
    assert query(pipeline_run, "SELECT count(*) AS n FROM raw_behavior_logs")["n"][0] == accepted
    assert query(pipeline_run, "SELECT count(*) AS n FROM rejected_events")["n"][0] == rejected
    assert rejected > 0 and duplicates > 0  # the generator plants both
    reasons = query(pipeline_run, "SELECT DISTINCT reason FROM rejected_events")["reason"].to_list()
    assert any("unparseable timestamp" in r for r in reasons)


def test_embeddings_are_unit_vectors_of_the_model_dimension(pipeline_run):
    for table in ("comment_embeddings", "item_embeddings", "fused_user_features"):
        stats = query(
            pipeline_run,
            f"SELECT min(len(embedding)) AS dmin, max(len(embedding)) AS dmax, "
            f"min(list_dot_product(embedding, embedding)) AS nmin, max(list_dot_product(embedding, embedding)) AS nmax FROM {table}",
        ).row(0, named=True)
        assert stats["dmin"] == stats["dmax"] == 384, table
        assert stats["nmin"] == pytest.approx(1.0, abs=1e-3) and stats["nmax"] == pytest.approx(1.0, abs=1e-3), table
    n_comments = query(pipeline_run, "SELECT count(*) AS n FROM tokenized_comments WHERE text_clean <> ''")["n"][0]
    assert query(pipeline_run, "SELECT count(*) AS n FROM comment_embeddings")["n"][0] == n_comments


def test_every_user_has_fused_features_and_flags(pipeline_run):
    users = query(pipeline_run, "SELECT count(DISTINCT user_id) AS n FROM raw_behavior_logs")["n"][0]
    fused = query(pipeline_run, "SELECT * FROM fused_user_features")
    assert fused.height == users
    assert fused["has_text"].any() and (~fused["has_text"]).any()
    assert (fused.filter(pl.col("is_cold_start"))["n_events"] < 3).all()
    assert fused["alpha"].unique().to_list() == [0.6]


def test_hierarchy_has_one_parent_per_node_and_labels(pipeline_run):
    nodes = query(pipeline_run, "SELECT node_id, level, parent_id, size, label, keywords FROM interest_hierarchy")
    ids = set(nodes["node_id"])
    assert nodes.filter(pl.col("level") == "root").height == 1
    non_root = nodes.filter(pl.col("level") != "root")
    assert non_root["parent_id"].is_in(list(ids)).all()
    subtopics = nodes.filter(pl.col("level") == "subtopic")
    topics = nodes.filter(pl.col("level") == "topic")
    assert subtopics["parent_id"].is_in(topics["node_id"].to_list()).all()
    assert topics.height >= 2 and subtopics.height >= topics.height
    assert (subtopics["label"].str.len_chars() > 0).all()
    # a topic's size is the sum of its subtopics' sizes
    sums = subtopics.group_by("parent_id").agg(pl.col("size").sum())
    joined = topics.join(sums, left_on="node_id", right_on="parent_id")
    assert (joined["size"] == joined["size_right"]).all()


def test_every_content_point_is_assigned_or_flagged(pipeline_run):
    topics = query(pipeline_run, "SELECT * FROM interest_topics")
    items = query(pipeline_run, "SELECT count(*) AS n FROM item_embeddings")["n"][0]
    comments = query(pipeline_run, "SELECT count(*) AS n FROM comment_embeddings")["n"][0]
    assert topics.height == items + comments
    assert topics["subtopic_id"].is_not_null().all()  # noise assigned by default
    assert (topics["noise_assigned"] == topics["is_noise"]).all()
    assert topics["mlflow_run_id"].n_unique() == 1


def test_segments_have_a_coarse_and_fine_level(pipeline_run):
    segments = query(pipeline_run, "SELECT * FROM user_segments")
    assert segments["segment_fine"].is_not_null().all()
    parents = segments.select(pl.col("segment_fine").str.split(".").list.first().alias("p"), "segment_coarse")
    assert (parents["p"] == parents["segment_coarse"]).all()
    assert segments["segment_coarse"].n_unique() >= 2


def test_layers_cover_users_with_tiers_in_both_views(pipeline_run):
    layers = query(pipeline_run, "SELECT * FROM user_interest_layers")
    users = query(pipeline_run, "SELECT count(*) AS n FROM fused_user_features")["n"][0]
    assert layers["user_id"].n_unique() == users
    for view in ("long", "short"):
        assert set(layers[f"tier_{view}"].drop_nulls()) == {"core", "secondary", "peripheral"}
        per_user = layers.group_by("user_id", "level").agg(pl.col(f"share_{view}").sum())
        np.testing.assert_allclose(per_user[f"share_{view}"].to_numpy(), 1.0, rtol=1e-6)
    core_per_user = (
        layers.filter((pl.col("level") == "subtopic") & (pl.col("tier_long") == "core")).group_by("user_id").len()
    )
    assert core_per_user.height == users and core_per_user["len"].max() <= 3


def test_mlflow_has_one_finished_run_per_clustering_asset(pipeline_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=pipeline_run.tracking_uri)
    for experiment_name, table in (("interest_topics", "interest_topics"), ("user_segments", "user_segments")):
        experiment = client.get_experiment_by_name(experiment_name)
        runs = client.search_runs([experiment.experiment_id])
        assert len(runs) == 1
        run = runs[0]
        assert run.info.status == "FINISHED"
        metrics = run.data.metrics
        assert -1.0 <= metrics["silhouette"] <= 1.0
        assert 0.0 <= metrics["noise_fraction"] < 1.0
        assert metrics["n_fine_clusters"] >= 2
        assert "dbcv_relative_validity" in metrics
        assert not any(k.startswith("silhouette_cluster/") for k in metrics)  # one table, not a metric per cluster
        assert run.data.params["reduction"] == "umap"
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {
            "cluster_map.png",
            "silhouette_per_cluster.png",
            "silhouette_per_cluster.json",
            "cluster_summary.csv",
        } <= artifacts
        if experiment_name == "interest_topics":
            assert "assignment_model.npz" in artifacts  # what incremental assignment loads between re-clusterings
        stored = query(pipeline_run, f"SELECT DISTINCT mlflow_run_id FROM {table}")["mlflow_run_id"].to_list()
        assert stored == [run.info.run_id]


def test_materializations_report_metadata_the_ui_shows(pipeline_run):
    by_asset = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in pipeline_run.model_result.get_asset_materialization_events()
    }
    assert by_asset["interest_topics"]["mlflow_run_id"].value
    assert "silhouette" in by_asset["interest_topics"]
    assert by_asset["interest_topics"]["cluster_map"].value.startswith("![cluster map](data:image/png;base64,")
    assert by_asset["comment_embeddings"]["texts_embedded"].value > 0
    assert "topic_tree" in by_asset["interest_hierarchy"]


def test_every_asset_check_ran_and_passed(pipeline_run):
    evaluations = (
        pipeline_run.ingest_result.get_asset_check_evaluations()
        + pipeline_run.model_result.get_asset_check_evaluations()
    )
    by_key = {(e.asset_key.to_user_string(), e.check_name): e for e in evaluations}
    expected = {
        ("raw_behavior_logs", "rows_conserved"),
        ("raw_behavior_logs", "schema_and_non_null"),
        ("item_catalog", "schema_and_non_null"),
        ("tokenized_comments", "schema_and_non_null"),
        ("comment_embeddings", "one_unit_vector_per_text"),
        ("item_embeddings", "one_unit_vector_per_text"),
        ("interest_topics", "quality_within_bounds"),
        ("user_segments", "quality_within_bounds"),
        ("interest_hierarchy", "one_parent_per_node"),
        ("user_interest_layers", "every_user_has_layers_or_is_cold_start"),
    }
    assert expected <= set(by_key)
    failed = {k: e.metadata.get("problems") for k, e in by_key.items() if not e.passed}
    assert not failed


def test_mlflow_holds_no_user_ids(pipeline_run, tmp_path):
    from mlflow.tracking import MlflowClient

    user_ids = set(query(pipeline_run, "SELECT DISTINCT user_id FROM raw_behavior_logs")["user_id"])
    client = MlflowClient(tracking_uri=pipeline_run.tracking_uri)
    for name in ("interest_topics", "user_segments"):
        run = client.search_runs([client.get_experiment_by_name(name).experiment_id])[0]
        texts = [str(v) for v in run.data.params.values()] + list(run.data.metrics) + list(run.data.tags.values())
        folder = client.download_artifacts(run.info.run_id, "", str(tmp_path / name))
        texts += [p.read_text() for p in Path(folder).iterdir() if p.suffix in (".csv", ".json")]
        leaked = {u for u in user_ids if any(u in t for t in texts)}
        assert not leaked, (name, sorted(leaked)[:5])
