"""Re-running everything on the same warehouse is safe: same tables, nothing embedded twice."""

import datetime as dt
import shutil

import duckdb
import pytest
from dagster import DagsterInstance

from interest_pipeline.definitions import build_definitions
from interest_pipeline_tests.conftest import SMALL_SPEC, make_resources, run_pipeline

TABLES = [
    "raw_behavior_logs",
    "rejected_events",
    "item_catalog",
    "tokenized_comments",
    "comment_embeddings",
    "item_embeddings",
    "user_behavior_features",
    "user_text_features",
    "fused_user_features",
    "interest_topics",
    "interest_hierarchy",
    "user_segments",
    "user_interest_layers",
    "embedding_cache",
]


@pytest.fixture(scope="module")
def rerun(pipeline_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("rerun")
    shutil.copy(pipeline_run.warehouse, root / "warehouse.duckdb")
    last = dt.date.fromordinal(SMALL_SPEC.start_date.toordinal() + SMALL_SPEC.n_days - 1).isoformat()
    with DagsterInstance.ephemeral() as instance:
        ingest, model = run_pipeline(
            build_definitions(make_resources(root, pipeline_run.sample_dir)),
            instance,
            SMALL_SPEC.start_date.isoformat(),
            last,
        )
    return root / "warehouse.duckdb", model


def test_rerun_gives_identical_tables(pipeline_run, rerun):
    rerun_warehouse, _ = rerun
    with duckdb.connect(str(rerun_warehouse)) as conn:
        conn.execute(f"ATTACH '{pipeline_run.warehouse}' AS first_run (READ_ONLY)")
        for table in TABLES:
            columns = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_catalog = 'warehouse' ORDER BY ordinal_position",
                    [table],
                ).fetchall()
            ]
            compared = ", ".join(f'"{c}"' for c in columns if c != "mlflow_run_id")
            counts = conn.execute(
                f"SELECT (SELECT count(*) FROM main.{table}), (SELECT count(*) FROM first_run.{table}),"
                f" (SELECT count(*) FROM (SELECT {compared} FROM main.{table} EXCEPT ALL SELECT {compared} FROM first_run.{table})),"
                f" (SELECT count(*) FROM (SELECT {compared} FROM first_run.{table} EXCEPT ALL SELECT {compared} FROM main.{table}))"
            ).fetchone()
            assert counts[0] == counts[1] > 0, table
            assert counts[2] == counts[3] == 0, table


def test_rerun_embeds_nothing_new(rerun):
    _, model = rerun
    metadata = {
        e.asset_key.to_user_string(): e.materialization.metadata for e in model.get_asset_materialization_events()
    }
    for asset in ("comment_embeddings", "item_embeddings", "tokenized_comments", "user_interest_layers"):
        # nothing changed since the first run: no row is rebuilt, no text embedded
        assert metadata[asset]["update"].value == "incremental" and metadata[asset]["keys_rebuilt"].value == 0, asset
    for asset in ("comment_embeddings", "item_embeddings"):
        assert metadata[asset]["texts_embedded"].value == 0, asset


def test_rerun_keeps_every_cluster_identity(rerun, tmp_path_factory):
    from mlflow.tracking import MlflowClient

    rerun_warehouse, _ = rerun
    client = MlflowClient(tracking_uri=f"sqlite:///{rerun_warehouse.parent / 'mlflow.db'}")
    for name in ("interest_topics", "user_segments"):
        run = client.search_runs([client.get_experiment_by_name(name).experiment_id])[0]
        metrics = run.data.metrics
        assert metrics["stability/fine_matched_share"] == 1.0 and metrics["stability/coarse_matched_share"] == 1.0, name
        assert metrics["stability/fine_births"] == 0 and metrics["stability/fine_deaths"] == 0, name
        assert metrics["stability/ari_vs_previous_run"] == pytest.approx(1.0), name
