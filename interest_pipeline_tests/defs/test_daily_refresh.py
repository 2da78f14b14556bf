"""A new day between re-clusterings: new texts join the existing taxonomy and reach the layers."""

import csv
import shutil

import duckdb
from dagster import DagsterInstance, materialize

from interest_pipeline.core.text.use_backend import PACKAGED_MULTILINGUAL_MODEL
from interest_pipeline.defs.clustering.assets import incremental_topic_assignments
from interest_pipeline.defs.features.assets import fused_user_features, user_behavior_features, user_text_features
from interest_pipeline.defs.ingest.assets import raw_behavior_logs
from interest_pipeline.defs.profiles.assets import user_interest_layers
from interest_pipeline.defs.resources import EventSource, SentenceEmbedder
from interest_pipeline.defs.text.assets import comment_embeddings, item_embeddings, tokenized_comments
from interest_pipeline_tests.conftest import make_resources

NEW_DAY = "2026-10-11"  # the day after the small sample ends


def test_new_texts_are_assigned_without_reclustering(pipeline_run, tmp_path):
    shutil.copy(pipeline_run.warehouse, tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        user, item, text = conn.execute(
            "SELECT e.user_id, e.item_id, e.text FROM raw_behavior_logs e JOIN interest_topics t"
            " ON t.content_kind = 'comment' AND t.content_id = e.event_id"
            " JOIN comment_embeddings c ON c.comment_id = e.event_id JOIN interest_hierarchy h ON h.node_id = t.subtopic_id"
            " WHERE e.event_type = 'review' AND NOT t.is_noise AND length(e.text) > 60"
            # a review close to its subtopic's centre, not one on a border with a sibling
            " ORDER BY list_cosine_similarity(c.embedding, h.centroid) DESC, e.event_id LIMIT 1"
        ).fetchone()
        topics_before = conn.execute("SELECT count(*) FROM interest_topics").fetchone()[0]
        run_before = conn.execute("SELECT any_value(mlflow_run_id) FROM interest_topics").fetchone()[0]
    landing = tmp_path / "landing"
    landing.mkdir()
    with (landing / f"events_{NEW_DAY}.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "user_id", "item_id", "event_type", "timestamp", "rating", "text"])
        writer.writerow(["new1", user, item, "review", f"{NEW_DAY}T09:00:00Z", "5", "Again: " + text])
        writer.writerow(["new2", user, "", "search", f"{NEW_DAY}T09:05:00Z", "", "zzqx"])
        writer.writerow(
            ["new3", "newcomer", "", "search", f"{NEW_DAY}T09:07:00Z", "", "qqzx"]
        )  # a first visit, nothing placeable

    resources = make_resources(tmp_path, pipeline_run.sample_dir)
    resources["mlflow"] = pipeline_run.resources["mlflow"]  # the store that holds the taxonomy's assignment model
    resources["event_source"] = EventSource(
        events_dir=str(pipeline_run.sample_dir / "events"),
        items_path=str(pipeline_run.sample_dir / "items.csv"),
        landing_dir=str(landing),
    )
    with DagsterInstance.ephemeral() as instance:
        assert materialize([raw_behavior_logs], partition_key=NEW_DAY, resources=resources, instance=instance).success
        refresh = [
            tokenized_comments,
            comment_embeddings,
            user_behavior_features,
            user_text_features,
            fused_user_features,
            incremental_topic_assignments,
            user_interest_layers,
        ]
        assert materialize(refresh, resources=resources, instance=instance).success

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        assigned = dict(conn.execute("SELECT content_id, subtopic_id FROM incremental_topic_assignments").fetchall())
        assert conn.execute("SELECT count(*) FROM interest_topics").fetchone()[0] == topics_before  # no re-clustering
        assert conn.execute("SELECT any_value(mlflow_run_id) FROM interest_topics").fetchone()[0] == run_before
        original = conn.execute(
            "SELECT t.subtopic_id FROM interest_topics t JOIN raw_behavior_logs e ON t.content_id = e.event_id"
            " WHERE e.user_id = ? AND e.text = ?",
            [user, text],
        ).fetchone()[0]
        newcomer = conn.execute(
            "SELECT DISTINCT source, tier_long, is_cold_start FROM user_interest_layers WHERE user_id = 'newcomer'"
        ).fetchall()
        latest = conn.execute(
            "SELECT max(last_interaction_ts) FROM user_interest_layers WHERE user_id = ? AND node_id = ?",
            [user, assigned["new1"]],
        ).fetchone()[0]
    assert newcomer == [("popular", "peripheral", True)]  # popular topics, flagged, never core
    assert set(assigned) == {"new1", "new2", "new3"}
    assert assigned["new2"] is None  # a query resembling nothing stays noise
    assert assigned["new1"] == original  # the same words land in the same subtopic
    assert str(latest).startswith(NEW_DAY)  # and the new review counts in the user's layers


def _assign_new_content(pipeline_run, tmp_path, also=(), **overrides):
    shutil.copy(pipeline_run.warehouse, tmp_path / "warehouse.duckdb")
    resources = {
        **make_resources(tmp_path, pipeline_run.sample_dir),
        "mlflow": pipeline_run.resources["mlflow"],
        **overrides,
    }
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [*also, incremental_topic_assignments], resources=resources, instance=instance, raise_on_error=False
        )
    messages = []
    for event in result.all_events:
        error = event.step_failure_data.error if event.event_type_value == "STEP_FAILURE" else None
        while error is not None:  # the step error wraps the asset's own exception
            messages.append(error.message)
            error = error.cause
    return result, "\n".join(messages)


def test_assignment_model_comes_from_the_clustering_run_in_mlflow(pipeline_run, tmp_path):
    result, _ = _assign_new_content(pipeline_run, tmp_path)
    assert result.success
    metadata = result.asset_materializations_for_node("incremental_topic_assignments")[0].metadata
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        assert (
            metadata["taxonomy_mlflow_run_id"].value
            == conn.execute("SELECT any_value(mlflow_run_id) FROM interest_hierarchy").fetchone()[0]
        )


def test_a_store_without_the_clustering_run_is_named_in_the_error(pipeline_run, tmp_path):
    result, message = _assign_new_content(
        pipeline_run, tmp_path, mlflow=make_resources(tmp_path, pipeline_run.sample_dir)["mlflow"]
    )
    assert not result.success
    assert "assignment_model.npz" in message and "cannot read artifact" in message


def test_another_embedding_model_than_the_taxonomys_is_refused(pipeline_run, tmp_path):
    # the embeddings are rebuilt with another model, the taxonomy is not
    result, message = _assign_new_content(
        pipeline_run,
        tmp_path,
        [item_embeddings, comment_embeddings],
        embedder=SentenceEmbedder(model=PACKAGED_MULTILINGUAL_MODEL),
    )
    assert not result.success
    assert f"now of {PACKAGED_MULTILINGUAL_MODEL}" in message and "re-materialize interest_topics" in message
