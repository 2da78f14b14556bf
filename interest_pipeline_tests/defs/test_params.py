"""Run config and the core parameter objects: one default each, and what a table was built with."""

import dataclasses

import duckdb
import polars as pl
import pytest

from interest_pipeline.core.evaluation.scoring_methods import EvaluationParams
from interest_pipeline.core.expansion.interest_expansion import ExpansionParams, ExpansionWeights
from interest_pipeline.core.expansion.takeup import TakeupParams
from interest_pipeline.core.features.user_features import BehaviorParams, FusionParams, TextParams, UserFeatureParams
from interest_pipeline.core.profiles.layers import LayerParams, TierRules
from interest_pipeline.defs.evaluation.assets import EvaluationConfig
from interest_pipeline.defs.expansion.assets import ExpansionConfig, TakeupConfig
from interest_pipeline.defs.features.assets import BehaviorFeatureConfig, FusionConfig, TextFeatureConfig
from interest_pipeline.defs.params import as_record, from_record, params_from_config
from interest_pipeline.defs.profiles.assets import LayerConfig
from interest_pipeline.defs.warehouse import read_parameters, replace_table


@pytest.mark.parametrize(
    ("config", "params"),
    [
        (BehaviorFeatureConfig, BehaviorParams),
        (TextFeatureConfig, TextParams),
        (FusionConfig, FusionParams),
        (LayerConfig, LayerParams),
        (ExpansionConfig, ExpansionParams),
        (EvaluationConfig, EvaluationParams),
    ],
)
def test_a_default_config_gives_the_default_parameters(config, params):
    assert config().params() == params()


def test_config_values_reach_the_parameters():
    layers = LayerConfig(long_half_life_days=30.0, max_core=2, event_weights={"view": 1.0}).params()
    assert layers == LayerParams(long_half_life_days=30.0, tiers=TierRules(max_core=2), event_weights={"view": 1.0})
    expansion = ExpansionConfig(weights={"peers": 1.0}, top_n=2).params(TakeupConfig(window_days=3.0).params())
    assert expansion == ExpansionParams(
        top_n=2, weights=ExpansionWeights(1.0, 0.0, 0.0, 0.0), takeup=TakeupParams(window_days=3.0)
    )
    assert TakeupConfig(max_window_days=14.0, min_positives=2).params() == TakeupParams(
        max_window_days=14.0, min_positives=2
    )
    evaluation = EvaluationConfig(
        cutoff="2026-10-05", ks=[3], relevant_event_types=["click"], kmeans_restarts=4
    ).params()
    assert (
        evaluation.cutoff.isoformat() == "2026-10-05T00:00:00"
        and evaluation.ks == (3,)
        and evaluation.relevant_event_types == ("click",)
    )
    assert evaluation.kmeans_restarts == 4
    assert params_from_config(FusionConfig(alpha=0.1), FusionParams, min_events=9) == FusionParams(
        alpha=0.1, min_events=9
    )


def test_records_round_trip_and_refuse_missing_fields():
    params = UserFeatureParams(
        behavior=BehaviorParams(half_life_days=3.0, event_weights={"view": 2.0}), fusion=FusionParams(alpha=0.1)
    )
    assert from_record(UserFeatureParams, as_record(params), "t") == params
    assert from_record(EvaluationParams, as_record(EvaluationParams(ks=(1, 2))), "t").ks == (1, 2)
    record = as_record(params)
    del record["fusion"]["alpha"]
    with pytest.raises(ValueError, match=r"stored for fused_user_features lack \['alpha'\]"):
        from_record(UserFeatureParams, record, "fused_user_features")


def test_parameters_are_stored_with_their_table_and_replaced_with_it(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        with pytest.raises(LookupError, match="no parameters are stored for table 't'"):
            read_parameters(conn, "t")
        replace_table(conn, "t", pl.DataFrame({"x": [1]}), {"alpha": 0.6})
        replace_table(conn, "t", pl.DataFrame({"x": [2]}), {"alpha": 0.3})
        replace_table(conn, "u", pl.DataFrame({"x": [3]}))
        assert read_parameters(conn, "t") == {"alpha": 0.3}
        with pytest.raises(LookupError):
            read_parameters(conn, "u")
        # a failed write leaves the table and its parameters as they were
        with pytest.raises(TypeError):  # the parameters cannot be written as JSON
            replace_table(conn, "t", pl.DataFrame({"x": [4]}), {"alpha": object()})
        assert conn.execute("SELECT x FROM t").fetchall() == [(2,)] and read_parameters(conn, "t") == {"alpha": 0.3}


def test_parameter_objects_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        FusionParams().alpha = 0.1  # type: ignore[misc]
