"""The hold-out evaluation asset on the small generated sample, with a real MLflow store."""

import shutil

import duckdb
import polars as pl
import pytest
from dagster import materialize
from dagster_duckdb import DuckDBResource

from interest_pipeline.core.ranking import metric_names
from interest_pipeline.defs.evaluation.assets import (
    EXPANSION_METHODS,
    EXPANSION_METRIC,
    EXPERIMENT,
    METHODS,
    interest_evaluation,
)
from interest_pipeline.defs.resources import MlflowTracking


@pytest.fixture(scope="module")
def evaluated(pipeline_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluation")
    warehouse = root / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, warehouse)
    tracking_uri = f"sqlite:///{root / 'm.db'}"
    result = materialize(
        [interest_evaluation],
        resources={
            "warehouse": DuckDBResource(database=str(warehouse)),
            "mlflow": MlflowTracking(tracking_uri=tracking_uri, artifact_root=str(root / "a")),
        },
    )
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        table = conn.execute("SELECT * FROM interest_evaluation").pl()
    return result, table, tracking_uri


def test_table_has_every_method_and_metric(evaluated):
    _, table, _ = evaluated
    assert table.columns == ["method", "metric", "value", "cutoff", "n_users_scored"]
    expected = {(m, k) for m in METHODS for k in metric_names((5, 10, 20))} | {(m, EXPANSION_METRIC) for m in EXPANSION_METHODS}
    assert set(zip(table["method"], table["metric"])) == expected
    assert table.height == len(expected)
    assert table["value"].is_not_null().all() and table["value"].is_between(0.0, 1.0).all()
    assert table["n_users_scored"].n_unique() == 1 and table["n_users_scored"][0] > 20
    assert table["cutoff"].n_unique() == 1


def test_mlflow_run_and_metadata(evaluated):
    from mlflow.tracking import MlflowClient

    result, _, tracking_uri = evaluated
    metadata = result.asset_materializations_for_node("interest_evaluation")[0].metadata
    run_id = metadata["mlflow_run_id"].value
    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert len(run.data.metrics) == len(METHODS) * len(metric_names((5, 10, 20))) + len(EXPANSION_METHODS)
    assert "interest_layers/ndcg_at_10" in run.data.metrics
    assert "interest_expansion/expansion_precision" in run.data.metrics
    assert {"cutoff", "ks", "n_users_scored", "n_items"} <= set(run.data.params)
    assert [a.path for a in client.list_artifacts(run_id)] == ["interest_evaluation.csv"]
    markdown = metadata["metrics"].value
    assert all(m in markdown for m in METHODS) and "ndcg@10" in markdown
    assert all(m in metadata["expansion_precision"].value for m in EXPANSION_METHODS)


def test_interest_layers_beat_random_and_report(evaluated):
    _, table, _ = evaluated
    wide = table.pivot(on="metric", index="method", values="value")
    with pl.Config(tbl_rows=20, tbl_cols=20, tbl_width_chars=250, float_precision=4):
        print(f"\ncutoff {table['cutoff'][0]}, users scored {table['n_users_scored'][0]}")
        print(wide)
    value = {(m, k): v for m, k, v in table.select("method", "metric", "value").iter_rows()}
    assert value[("interest_layers", "ndcg@10")] > value[("random", "ndcg@10")]
    assert value[("interest_layers", "auc")] > value[("random", "auc")]


def test_summary_prints_ranking_and_expansion_tables(evaluated, pipeline_run, tmp_path, capsys):
    from interest_pipeline.cli import print_evaluation

    _, table, _ = evaluated
    copy = tmp_path / "w.duckdb"
    shutil.copy(pipeline_run.warehouse, copy)
    with duckdb.connect(str(copy)) as conn:
        conn.register("evaluated", table.to_arrow())
        conn.execute("CREATE OR REPLACE TABLE interest_evaluation AS SELECT * FROM evaluated")
        print_evaluation(conn)
    printed = capsys.readouterr().out
    ranking, _, expansion = printed.partition("expansion precision")
    assert all(m in ranking for m in METHODS) and "nan" not in ranking
    assert all(m in expansion for m in EXPANSION_METHODS)
