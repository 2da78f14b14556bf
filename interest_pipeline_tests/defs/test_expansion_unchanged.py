"""interest_expansion keeps its table when nothing it reads changed, and rebuilds it otherwise."""

import shutil

import duckdb
from dagster import DagsterInstance, materialize
from dagster_duckdb import DuckDBResource

from interest_pipeline.defs.expansion.assets import interest_expansion
from interest_pipeline.defs.warehouse import read_frame


def _expand(warehouse, instance, full_refresh=False):
    result = materialize(
        [interest_expansion], resources={"warehouse": DuckDBResource(database=str(warehouse))}, instance=instance,
        run_config={"ops": {"interest_expansion": {"config": {"full_refresh": full_refresh}}}},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("interest_expansion")[0].metadata
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        table = read_frame(conn, "SELECT * FROM interest_expansion ORDER BY user_id, rank")
    return {k: getattr(v, "value", v) for k, v in metadata.items()}, table


def test_a_second_build_with_the_same_inputs_keeps_the_table_and_any_change_rebuilds_it(pipeline_run, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, warehouse)
    with DagsterInstance.ephemeral() as instance:
        # the pipeline's own build of the same warehouse is kept: nothing it read changed since
        kept_from_pipeline, stored = _expand(warehouse, instance)
        forced, built = _expand(warehouse, instance, full_refresh=True)
        again, kept = _expand(warehouse, instance)
        with duckdb.connect(str(warehouse)) as conn:  # one user moves to another fine segment
            conn.execute(
                "UPDATE user_segments SET segment_fine = (SELECT max(segment_fine) FROM user_segments) "
                "WHERE user_id = (SELECT min(user_id) FROM user_segments WHERE segment_fine <> (SELECT max(segment_fine) FROM user_segments))"
            )
        changed, _ = _expand(warehouse, instance)
    assert kept_from_pipeline["update"] == "unchanged" and again["update"] == "unchanged"
    assert forced["update"] == "full" and forced["update_reason"] == "full_refresh requested"
    assert changed["update"] == "full" and changed["update_reason"] == "inputs, parameters or code changed"
    assert built.equals(stored) and kept.equals(built)
    # a kept table reports the same figures as the build it keeps
    for key in ("dagster/row_count", "users_covered", "mean_score", "users_on_popular_fallback", "strongest_signals"):
        assert again[key] == forced[key], key
    assert built.height > 0


def test_a_user_whose_fused_features_were_rebuilt_rebuilds_the_expansion(pipeline_run, tmp_path):
    """The fused vectors enter the expansion's context through fused_user_features' own record of
    each row's inputs: a row built from other inputs, or the table built otherwise, is a change."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, warehouse)
    with DagsterInstance.ephemeral() as instance:
        kept, _ = _expand(warehouse, instance)
        with duckdb.connect(str(warehouse)) as conn:  # as fused_user_features records a user rebuilt from new inputs
            conn.execute(
                "UPDATE input_fingerprints SET fingerprint = fingerprint // 2 + 1 WHERE table_name = 'fused_user_features' "
                "AND key = (SELECT min(key) FROM input_fingerprints WHERE table_name = 'fused_user_features')"
            )
        one_user, _ = _expand(warehouse, instance)
        again, _ = _expand(warehouse, instance)
        with duckdb.connect(str(warehouse)) as conn:  # as a build of fused_user_features with other parameters records
            conn.execute("UPDATE input_contexts SET context = context || '-other' WHERE table_name = 'fused_user_features'")
        other_build, _ = _expand(warehouse, instance)
    assert kept["update"] == "unchanged"
    assert one_user["update"] == "full" and one_user["update_reason"] == "inputs, parameters or code changed"
    assert again["update"] == "unchanged"
    assert other_build["update"] == "full"
