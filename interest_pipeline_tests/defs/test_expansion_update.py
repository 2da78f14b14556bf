"""interest_expansion rescores only the users whose own inputs changed, gives the table a full
rebuild gives, and rescores everyone when what all users share changed."""

import shutil

import duckdb
import polars as pl
from dagster import DagsterInstance, materialize
from dagster_duckdb import DuckDBResource

from interest_pipeline.defs.expansion.assets import interest_expansion, segment_peer_shares
from interest_pipeline.defs.warehouse import read_frame


def _expand(warehouse, instance, full_refresh=False):
    result = materialize(
        [interest_expansion],
        resources={"warehouse": DuckDBResource(database=str(warehouse))},
        instance=instance,
        run_config={"ops": {"interest_expansion": {"config": {"full_refresh": full_refresh}}}},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("interest_expansion")[0].metadata
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        table = read_frame(conn, "SELECT * FROM interest_expansion ORDER BY user_id, rank")
    return {k: getattr(v, "value", v) for k, v in metadata.items()}, table


def _execute(warehouse, sql: str) -> None:
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(sql)


def _first_fused_user(warehouse) -> str:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute("SELECT min(user_id) FROM interest_expansion WHERE NOT is_cold_start_fallback").fetchone()[
            0
        ]


def test_a_second_build_rescores_nobody_and_a_segment_change_rescores_everyone(pipeline_run, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, warehouse)
    with DagsterInstance.ephemeral() as instance:
        again, stored_again = _expand(warehouse, instance)  # nothing changed since the pipeline's own build
        forced, built = _expand(warehouse, instance, full_refresh=True)
        # one user moves to another fine segment: the segments are shared by everyone's peer groups
        _execute(
            warehouse,
            "UPDATE user_segments SET segment_fine = (SELECT max(segment_fine) FROM user_segments) "
            "WHERE user_id = (SELECT min(user_id) FROM user_segments WHERE segment_fine <> (SELECT max(segment_fine) FROM user_segments))",
        )
        moved, _ = _expand(warehouse, instance)
    assert (
        again["update"] == "incremental" and again["keys_rebuilt"] == 0 and again["update_reason"] == "nothing changed"
    )
    assert forced["update"] == "full" and forced["update_reason"] == "full_refresh requested"
    assert moved["update"] == "full" and moved["update_reason"] == "parameters or shared inputs changed"
    assert stored_again.equals(built) and built.height > 0
    # an update reports the figures of the whole stored table, as a full build does
    for key in (
        "dagster/row_count",
        "users_covered",
        "mean_top_score",
        "users_on_popular_fallback",
        "strongest_signals",
    ):
        assert again[key] == forced[key], key


def test_a_user_whose_own_inputs_changed_is_rescored_alone_and_the_table_is_a_full_builds(pipeline_run, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, warehouse)
    user = _first_fused_user(warehouse)
    with DagsterInstance.ephemeral() as instance:
        _expand(warehouse, instance)
        # as user_interest_layers records a user rebuilt from new inputs: here their core interest is another one
        _execute(
            warehouse,
            f"UPDATE input_fingerprints SET fingerprint = fingerprint // 2 + 1 WHERE table_name = 'user_interest_layers' AND key = '{user}'",
        )
        _execute(
            warehouse,
            f"UPDATE user_interest_layers SET share_long = 1.0 - share_long, tier_long = CASE WHEN tier_long = 'core' THEN 'peripheral' ELSE 'core' END "
            f"WHERE user_id = '{user}' AND level = 'subtopic'",
        )
        layers_changed, updated = _expand(warehouse, instance)
        # as fused_user_features records a user rebuilt from new inputs
        _execute(
            warehouse,
            f"UPDATE input_fingerprints SET fingerprint = fingerprint // 2 + 1 WHERE table_name = 'fused_user_features' AND key = '{user}'",
        )
        fused_changed, _ = _expand(warehouse, instance)
        full, rebuilt = _expand(warehouse, instance, full_refresh=True)
        # fused_user_features built otherwise (other parameters): everyone
        _execute(
            warehouse,
            "UPDATE input_contexts SET context = context || '-other' WHERE table_name = 'fused_user_features'",
        )
        other_build, _ = _expand(warehouse, instance)
    assert layers_changed["update"] == "incremental" and layers_changed["keys_rebuilt"] == 1
    assert fused_changed["update"] == "incremental" and fused_changed["keys_rebuilt"] == 1
    assert full["update"] == "full" and other_build["update"] == "full"
    assert updated.equals(rebuilt)
    before = pipeline_run_table(pipeline_run.warehouse)
    assert not updated.filter(pl.col("user_id") == user).equals(
        before.filter(pl.col("user_id") == user)
    )  # the change showed
    assert updated.filter(pl.col("user_id") != user).equals(before.filter(pl.col("user_id") != user))


def pipeline_run_table(warehouse) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return read_frame(conn, "SELECT * FROM interest_expansion ORDER BY user_id, rank")


def test_the_expansion_needs_the_stored_peer_shares_and_they_follow_the_segments(pipeline_run, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, warehouse)
    resources = {"warehouse": DuckDBResource(database=str(warehouse))}
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        stored = read_frame(conn, "SELECT * FROM segment_peer_shares ORDER BY peer_group, subtopic_id")
        segments = conn.execute(
            "SELECT count(DISTINCT segment_fine) FROM user_segments WHERE segment_fine IS NOT NULL"
        ).fetchone()[0]
    with DagsterInstance.ephemeral() as instance:
        assert materialize([segment_peer_shares], resources=resources, instance=instance).success
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            again = read_frame(conn, "SELECT * FROM segment_peer_shares ORDER BY peer_group, subtopic_id")
        _execute(warehouse, "DROP TABLE segment_peer_shares")
        missing = materialize([interest_expansion], resources=resources, instance=instance, raise_on_error=False)
    assert again.equals(stored)  # rebuilt from the same inputs: the same table
    assert stored.filter(pl.col("peer_group").str.starts_with("fine:"))["peer_group"].n_unique() <= segments
    assert stored["share"].is_between(0, 1, closed="right").all() and (stored["members"] >= 1).all()
    assert not missing.success
    failure = next(e for e in missing.all_events if e.is_step_failure).step_failure_data.error
    assert "segment_peer_shares is missing" in (failure.cause.message if failure.cause else failure.message)
