"""The hold-out evaluation asset on the small generated sample (per-user split), with a real MLflow store."""

import shutil

import duckdb
import polars as pl
import pytest
from dagster import materialize
from dagster_duckdb import DuckDBResource

from interest_pipeline.core.evaluation.collaborative import RECENCY_HALF_LIVES
from interest_pipeline.core.evaluation.holdout_evaluation import BASELINES, SHIPPED, TABLE_SCHEMA
from interest_pipeline.core.evaluation.interest_measures import ACTIVITY_GROUPS, INTEREST_MEASURES
from interest_pipeline.core.evaluation.layered_collaborative import INTEREST_BOOSTS, LAYER_WEIGHTS
from interest_pipeline.core.evaluation.metrics import metric_names
from interest_pipeline.defs.evaluation.assets import (
    EXPANSION_METHODS,
    EXPANSION_METRIC,
    EXPERIMENT,
    METHODS,
    interest_evaluation,
)
from interest_pipeline.defs.resources import MlflowTracking, run_id_of_url


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
    result, table, _ = evaluated
    metadata = result.asset_materializations_for_node("interest_evaluation")[0].metadata
    assert table.columns == list(TABLE_SCHEMA)
    assert set(table["protocol"]) == {"per_user"} and table["reference_ts"].n_unique() == 1
    warm = table.filter(pl.col("user_group") == "with_history")
    expected = {(m, k) for m in METHODS for k in metric_names((5, 10, 20))} | {
        (m, EXPANSION_METRIC) for m in EXPANSION_METHODS
    }
    assert expected <= set(zip(warm["method"], warm["metric"]))
    ranking = warm.filter(pl.col("metric").is_in(metric_names((5, 10, 20))))
    assert ranking["value"].is_not_null().all() and ranking["value"].is_between(0.0, 1.0).all()
    n_warm, n_cold = metadata["n_users_with_history"].value, metadata["n_users_cold_start"].value
    assert n_warm > 20 and metadata["n_users_scored"].value == n_warm + n_cold
    assert set(ranking["n_users_scored"]) == {n_warm}
    cold = table.filter(pl.col("user_group") == "cold_start")
    assert (cold.height > 0) == (n_cold > 0) and set(cold["n_users_scored"]) <= {n_cold}
    interest = warm.filter(pl.col("metric").is_in(INTEREST_MEASURES))
    assert set(zip(interest["method"], interest["metric"])) == {(m, k) for m in METHODS for k in INTEREST_MEASURES}
    assert interest["value"].is_between(0.0, 1.0).all() and set(interest["n_users_scored"]) == {n_warm}


def test_activity_groups_split_the_users_with_history(evaluated):
    result, table, _ = evaluated
    metadata = result.asset_materializations_for_node("interest_evaluation")[0].metadata
    groups = {a: table.filter(pl.col("user_group") == f"{a}_history") for a in ACTIVITY_GROUPS}
    sizes = {a: rows["n_users_scored"].unique().to_list() for a, rows in groups.items()}
    assert all(len(n) == 1 and n[0] > 0 for n in sizes.values())
    assert sum(n[0] for n in sizes.values()) == metadata["n_users_with_history"].value
    assert all(metadata[f"n_users_{a}_history"].value == sizes[a][0] for a in ACTIVITY_GROUPS)
    for rows in groups.values():
        assert set(zip(rows["method"], rows["metric"])) == {(m, k) for m in METHODS for k in ("ndcg@10", "coverage@20")}
        assert rows["value"].is_between(0.0, 1.0).all()
    # the groups partition the users with history: their size-weighted nDCG@10 is the overall one
    overall = table.filter((pl.col("user_group") == "with_history") & (pl.col("metric") == "ndcg@10"))
    for method, value, n_warm in overall.select("method", "value", "n_users_scored").iter_rows():
        weighted = sum(
            rows.filter((pl.col("method") == method) & (pl.col("metric") == "ndcg@10"))["value"][0] * sizes[a][0]
            for a, rows in groups.items()
        )
        assert weighted / n_warm == pytest.approx(value, abs=1e-12)
    bounds = metadata["activity_groups"].value
    assert {a: bounds[a]["users"] for a in ACTIVITY_GROUPS} == {a: sizes[a][0] for a in ACTIVITY_GROUPS}
    by_activity = metadata["metrics_by_activity"].value
    assert all(m in by_activity for m in METHODS) and f"coverage@20 heavy ({sizes['heavy'][0]} users)" in by_activity


def test_paired_differences_have_ordered_intervals(evaluated):
    _, table, _ = evaluated
    value = {
        (m, k): v
        for m, k, v in table.filter(pl.col("user_group") == "with_history")
        .select("method", "metric", "value")
        .iter_rows()
    }
    pairs = [(m, "popularity") for m in METHODS if m != "popularity"] + [
        (SHIPPED, b) for b in BASELINES if b != "popularity"
    ]
    for method, baseline in pairs:
        name = f"ndcg@10_vs_{baseline}"
        low, mean, high = value[(method, name + "_ci_low")], value[(method, name)], value[(method, name + "_ci_high")]
        assert low <= mean <= high
        # the paired mean difference is the difference of the two means over the same users
        assert mean == pytest.approx(value[(method, "ndcg@10")] - value[(baseline, "ndcg@10")], abs=1e-9)
    for baseline in BASELINES:
        name = f"coverage@20_vs_{baseline}"
        low, mean, high = (
            value[(SHIPPED, name + "_ci_low")],
            value[(SHIPPED, name)],
            value[(SHIPPED, name + "_ci_high")],
        )
        assert low <= mean <= high
        assert mean == pytest.approx(value[(SHIPPED, "coverage@20")] - value[(baseline, "coverage@20")], abs=1e-9)


def test_mlflow_run_and_metadata(evaluated):
    from mlflow.tracking import MlflowClient

    result, _, tracking_uri = evaluated
    metadata = result.asset_materializations_for_node("interest_evaluation")[0].metadata
    run_id = run_id_of_url(metadata["mlflow_run_id"].value)
    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert {f"{m}/ndcg_at_10" for m in METHODS} <= set(run.data.metrics)
    assert "interest_expansion/expansion_precision" in run.data.metrics
    assert "blended_layers/ndcg_at_10_vs_popularity" in run.data.metrics
    assert {f"{m}/{k}_at_20" for m in METHODS for k in ("coverage", "diversity")} <= set(run.data.metrics)
    assert {
        f"{a}_history/{m}/{k}" for a in ACTIVITY_GROUPS for m in METHODS for k in ("ndcg_at_10", "coverage_at_20")
    } <= set(run.data.metrics)
    assert {f"{SHIPPED}/coverage_at_20_vs_{b}" for b in BASELINES} <= set(run.data.metrics)
    assert {f"{SHIPPED}/ndcg_at_10_vs_{b}" for b in ("ease", "item_knn", "blended_layers")} <= set(run.data.metrics)
    assert {"protocol", "ks", "n_users_scored", "n_users_with_history", "n_users_cold_start", "n_items"} <= set(
        run.data.params
    )
    # the tuned setting is stored with the run, in MLflow and in the metadata alike
    chosen = metadata["blended_ranker_parameters"].value
    assert float(run.data.params["blend/popularity_weight"]) == chosen["blend/popularity_weight"]
    assert 0.0 <= chosen["blend/popularity_weight"] <= 1.0 and chosen["blend/validation_users"] > 0
    # the shipped ranker's collaborative model and layer setting, chosen on the same slice
    assert (
        chosen["layered/model"] in ("ease", "item_knn") and run.data.params["layered/model"] == chosen["layered/model"]
    )
    assert chosen["layered/layer_weight"] in LAYER_WEIGHTS and chosen["layered/interest_boost"] in INTEREST_BOOSTS
    assert chosen["layered/recency_half_life"] in RECENCY_HALF_LIVES
    assert float(run.data.params["layered/recency_half_life"]) == chosen["layered/recency_half_life"]
    assert run.data.params["takeup/used"] in ("True", "False") and "reason" in metadata["takeup_model"].value
    assert [a.path for a in client.list_artifacts(run_id)] == ["interest_evaluation.csv"]
    # the run leads back to its Dagster step, is named after the asset, and times each phase
    assert run.data.tags["dagster.asset_key"] == EXPERIMENT and run.data.tags["dagster.run_id"] == result.run_id
    assert run.data.tags["mlflow.runName"].startswith(f"{EXPERIMENT}-")
    assert metadata["mlflow_run_id"].value.startswith("http")
    phases = metadata["phase_seconds"].value
    assert {
        "read",
        "split",
        "tuning on the validation slice",
        "ranking and scoring",
        "next interest and expansion",
        "store",
    } <= set(phases)
    assert {f"phase_seconds/{name}" for name in ("read", "split", "ranking and scoring")} <= set(run.data.metrics)
    markdown = metadata["metrics"].value
    assert all(m in markdown for m in METHODS) and all(
        k in markdown for k in ("ndcg@10", "coverage@20", "diversity@20")
    )
    assert all(m in metadata["expansion_precision"].value for m in EXPANSION_METHODS)


def test_checks_report_the_shipped_ranker_and_expansion_coverage(evaluated):
    from dagster import AssetCheckSeverity

    result, table, _ = evaluated
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"shipped_ranker_beats_popularity", "expansion_covers_scored_users"}
    assert all(e.severity == AssetCheckSeverity.WARN for e in evaluations.values())
    value = {
        (m, k): v
        for m, k, v in table.filter(pl.col("user_group") == "with_history")
        .select("method", "metric", "value")
        .iter_rows()
    }
    beats = value[(SHIPPED, "ndcg@10")] > value[("popularity", "ndcg@10")]
    assert evaluations["shipped_ranker_beats_popularity"].passed == beats


def test_shipped_ranker_beats_random_and_report(evaluated):
    _, table, _ = evaluated
    warm = table.filter(pl.col("user_group") == "with_history")
    value = {(m, k): v for m, k, v in warm.select("method", "metric", "value").iter_rows()}
    with pl.Config(tbl_rows=20, tbl_cols=20, tbl_width_chars=250, float_precision=4):
        print(f"\nusers scored {warm['n_users_scored'][0]}")
        print(
            warm.filter(pl.col("metric").is_in(["ndcg@10", "recall@20", "auc", "mrr", *INTEREST_MEASURES])).pivot(
                on="metric", index="method", values="value"
            )
        )
        by_activity = table.filter(
            pl.col("user_group").str.ends_with("_history") & (pl.col("user_group") != "with_history")
        )
        print(
            by_activity.with_columns(
                pl.format("{} {} ({})", "metric", "user_group", "n_users_scored").alias("column")
            ).pivot(on="column", index="method", values="value")
        )
    for method in (SHIPPED, "interest_layers"):
        assert value[(method, "ndcg@10")] > value[("random", "ndcg@10")]
        assert value[(method, "auc")] > value[("random", "auc")]


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


def test_tuning_never_reads_test_events(pipeline_run):
    """Scrambling the items of every test event changes the scores but not the tuned setting."""
    from interest_pipeline.core.evaluation.holdout_evaluation import HoldoutData, evaluate_holdout
    from interest_pipeline.core.evaluation.scoring_methods import EvaluationParams, Taxonomy
    from interest_pipeline.core.evaluation.splits import split_events
    from interest_pipeline.defs.shared import read_feature_params, read_user_history
    from interest_pipeline.defs.warehouse import read_frame

    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        history = read_user_history(conn)
        taxonomy = Taxonomy(
            read_frame(conn, "SELECT content_id, content_kind, topic_id, subtopic_id FROM interest_topics"),
            read_frame(
                conn, "SELECT node_id, level, parent_id, label, centroid FROM interest_hierarchy ORDER BY node_id"
            ),
        )
        features = read_feature_params(conn)
    params = EvaluationParams(bootstrap_resamples=100)
    test_ids = split_events(history.events, params.split, params.relevant_event_types).test["event_id"]
    items = history.items.ids
    scrambled = history.events.with_columns(
        pl.when(pl.col("event_id").is_in(test_ids.implode()) & pl.col("item_id").is_not_null())
        .then(pl.col("item_id").hash(7).mod(len(items)).map_elements(lambda i: items[i], return_dtype=pl.String))
        .otherwise(pl.col("item_id"))
        .alias("item_id")
    )
    results = [
        evaluate_holdout(HoldoutData(events, history.texts, history.items, taxonomy), params, features=features)
        for events in (history.events, scrambled)
    ]
    assert results[0].tuning == results[1].tuning
    assert results[0].next_interest_half_life == results[1].next_interest_half_life
    assert results[0].next_interest_weighting == results[1].next_interest_weighting
    assert results[0].rankings != results[1].rankings
