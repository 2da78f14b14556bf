"""Downstream assets rebuild fused vectors with the parameters fused_user_features was built with,
not with defaults: set alpha and both half-lives in run config, then check every consumer."""

import shutil

import duckdb
import numpy as np
import pytest
from dagster import materialize
from dagster_duckdb import DuckDBResource

from interest_pipeline.core.evaluation.holdout_evaluation import EXPANSION_METRIC, HoldoutData, evaluate_holdout
from interest_pipeline.core.evaluation.scoring_methods import EvaluationParams, Taxonomy
from interest_pipeline.core.expansion.interest_expansion import ExpansionParams
from interest_pipeline.core.expansion.takeup import takeup_probabilities
from interest_pipeline.core.features.user_features import BehaviorParams, FusionParams, TextParams, UserFeatureParams
from interest_pipeline.defs.evaluation.assets import interest_evaluation
from interest_pipeline.defs.expansion.assets import interest_expansion, takeup_models
from interest_pipeline.defs.features.assets import fused_user_features, user_behavior_features, user_text_features
from interest_pipeline.defs.resources import MlflowTracking, run_id_of_url
from interest_pipeline.defs.shared import INTERACTIONS_SQL, read_feature_params, read_user_history, reference_time
from interest_pipeline.defs.warehouse import read_frame

SET = UserFeatureParams(
    behavior=BehaviorParams(half_life_days=4.0), text=TextParams(half_life_days=2.0), fusion=FusionParams(alpha=0.25)
)
RUN_CONFIG = {
    "ops": {
        "user_behavior_features": {"config": {"half_life_days": SET.behavior.half_life_days}},
        "user_text_features": {"config": {"half_life_days": SET.text.half_life_days}},
        "fused_user_features": {"config": {"alpha": SET.fusion.alpha}},
    }
}


@pytest.fixture(scope="module")
def rebuilt(pipeline_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("feature_parameters")
    warehouse = root / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, warehouse)
    result = materialize(
        [
            user_behavior_features,
            user_text_features,
            fused_user_features,
            takeup_models,
            interest_expansion,
            interest_evaluation,
        ],
        resources={
            "warehouse": DuckDBResource(database=str(warehouse)),
            "mlflow": MlflowTracking(tracking_uri=f"sqlite:///{root / 'm.db'}", artifact_root=str(root / "a")),
        },
        run_config=RUN_CONFIG,
    )
    assert result.success
    return result, warehouse, f"sqlite:///{root / 'm.db'}"


def test_fused_features_store_what_they_were_built_with(rebuilt):
    _, warehouse, _ = rebuilt
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        assert read_feature_params(conn) == SET
        assert conn.execute("SELECT DISTINCT alpha FROM fused_user_features").fetchall() == [(SET.fusion.alpha,)]


def test_expansion_takeup_is_built_with_the_stored_feature_parameters(rebuilt):
    result, warehouse, _ = rebuilt
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        table = read_frame(
            conn,
            "SELECT user_id, subtopic_id, takeup_probability FROM interest_expansion WHERE takeup_probability IS NOT NULL",
        )
        history, interactions, reference_ts = (
            read_user_history(conn),
            read_frame(conn, INTERACTIONS_SQL),
            reference_time(conn),
        )
        subtopic_ids = read_frame(
            conn, "SELECT node_id FROM interest_hierarchy WHERE level = 'subtopic' ORDER BY node_id"
        )["node_id"].to_list()
    assert table.height > 0

    def probabilities(features: UserFeatureParams) -> np.ndarray:
        takeup = takeup_probabilities(
            history, interactions, subtopic_ids, reference_ts, features, ExpansionParams().takeup
        )
        row = {u: i for i, u in enumerate(takeup.user_ids)}
        column = {s: j for j, s in enumerate(takeup.subtopic_ids)}
        # A subtopic with too few first-time users for a model gets probability 0 in the table.
        return np.array(
            [
                takeup.probabilities[row[u], column[s]] if s in column else 0.0
                for u, s in table.select("user_id", "subtopic_id").iter_rows()
            ]
        )

    stored = table["takeup_probability"].to_numpy()
    # the expansion applies the models to the stored (float32) fused vectors
    np.testing.assert_allclose(stored, probabilities(SET), rtol=1e-5, atol=1e-6)
    assert np.abs(stored - probabilities(UserFeatureParams())).max() > 1e-3  # the defaults would give other odds
    metadata = result.asset_materializations_for_node("interest_expansion")[0].metadata
    assert metadata["feature_parameters"].value["fusion"]["alpha"] == SET.fusion.alpha


def test_evaluation_takeup_is_built_with_the_stored_feature_parameters(rebuilt):
    from mlflow.tracking import MlflowClient

    result, warehouse, tracking_uri = rebuilt
    metadata = result.asset_materializations_for_node("interest_evaluation")[0].metadata
    run = MlflowClient(tracking_uri=tracking_uri).get_run(run_id_of_url(metadata["mlflow_run_id"].value))
    assert float(run.data.params["features/alpha"]) == SET.fusion.alpha
    assert float(run.data.params["features/behavior_half_life_days"]) == SET.behavior.half_life_days
    assert float(run.data.params["features/text_half_life_days"]) == SET.text.half_life_days
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        stored = dict(
            read_frame(
                conn, f"SELECT method, value FROM interest_evaluation WHERE metric = '{EXPANSION_METRIC}'"
            ).iter_rows()
        )
        history = read_user_history(conn)
        taxonomy = Taxonomy(
            read_frame(conn, "SELECT content_id, content_kind, topic_id, subtopic_id FROM interest_topics"),
            read_frame(
                conn, "SELECT node_id, level, parent_id, label, centroid FROM interest_hierarchy ORDER BY node_id"
            ),
        )
    recomputed = evaluate_holdout(
        HoldoutData(history.events, history.texts, history.items, taxonomy), EvaluationParams(), ExpansionParams(), SET
    )
    assert stored == pytest.approx({m: v for m, (v, _) in recomputed.expansion.items()})
