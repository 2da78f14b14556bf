"""Every warehouse table declares its columns to Dagster, and the declaration matches what is stored."""

import shutil

import duckdb
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from interest_pipeline.defs.table_schemas import COLUMNS_CHECKS, OPEN_TABLES, TABLE_SCHEMAS, schema_differences


def stored_columns(path, table: str) -> list[tuple[str, str]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
            [table],
        ).fetchall()


def declared_columns(table: str) -> list[tuple[str, str]]:
    return [(c.name, c.type) for c in TABLE_SCHEMAS[table].columns]


def test_every_duckdb_asset_declares_its_columns_and_table_name():
    from interest_pipeline.definitions import defs

    specs = {spec.key.to_user_string(): spec for assets in defs.assets for spec in assets.specs}
    tables = {key for key, spec in specs.items() if "duckdb" in spec.kinds}
    assert tables == set(TABLE_SCHEMAS) and len(tables) == 20
    for table in tables:
        metadata = specs[table].metadata
        assert metadata["dagster/column_schema"] == TABLE_SCHEMAS[table]
        assert metadata["dagster/table_name"] == f"warehouse.main.{table}"
        assert all(column.description for column in TABLE_SCHEMAS[table].columns)


def test_declared_columns_equal_the_stored_tables(pipeline_run):
    """A column added, dropped, renamed or retyped without its declaration fails here."""
    for table in TABLE_SCHEMAS:
        stored = stored_columns(pipeline_run.warehouse, table)
        if table in OPEN_TABLES:
            # The catalogue's own columns, as text, after the description.
            own = [
                c
                for c in pl.read_csv(pipeline_run.sample_dir / "items.csv", n_rows=0).columns
                if c not in {"item_id", "title", "description"}
            ]
            declared = declared_columns(table)
            at = [name for name, _ in declared].index("description") + 1
            assert stored == declared[:at] + [(c, "VARCHAR") for c in own] + declared[at:], table
        else:
            assert stored == declared_columns(table), table


def test_the_declared_column_checks_ran_and_passed(pipeline_run):
    evaluations = (
        pipeline_run.ingest_result.get_asset_check_evaluations()
        + pipeline_run.model_result.get_asset_check_evaluations()
    )
    results = {e.asset_key.to_user_string(): e.passed for e in evaluations if e.check_name == "schema_and_non_null"}
    assert results == {table: True for table in TABLE_SCHEMAS}


@pytest.fixture
def warehouse_copy(pipeline_run, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, path)
    return path


@pytest.mark.parametrize(
    "table, drift",
    [
        ("raw_behavior_logs", "ALTER TABLE raw_behavior_logs DROP COLUMN device"),
        ("user_segments", "ALTER TABLE user_segments ADD COLUMN segment_extra VARCHAR"),
        ("interest_topics", "ALTER TABLE interest_topics ALTER COLUMN membership_probability TYPE DOUBLE"),
        ("item_catalog", "ALTER TABLE item_catalog ADD COLUMN popularity DOUBLE"),
        ("interest_hierarchy", "UPDATE interest_hierarchy SET mlflow_run_id = NULL"),
    ],
)
def test_the_check_fails_on_a_table_that_drifted_from_its_declaration(warehouse_copy, table, drift):
    check = COLUMNS_CHECKS[table]
    assert check(DuckDBResource(database=str(warehouse_copy))).passed
    with duckdb.connect(str(warehouse_copy)) as conn:
        conn.execute(drift)
    result = check(DuckDBResource(database=str(warehouse_copy)))
    assert not result.passed and result.metadata["problems"].value != "none"


def test_schema_differences_name_each_problem():
    declared = declared_columns("item_embeddings")
    assert schema_differences("item_embeddings", declared, {"item_id": 0}) == []
    assert schema_differences(
        "item_embeddings", [("item_id", "BIGINT"), ("embedding", "FLOAT[]"), ("extra", "VARCHAR")], {"item_id": 2}
    ) == [
        "missing column text_hash",
        "item_id is BIGINT, declared VARCHAR",
        "undeclared column extra (VARCHAR)",
        "item_id has 2 nulls",
    ]
    catalog = declared_columns("item_catalog")
    assert schema_differences("item_catalog", catalog + [("brand", "VARCHAR")], {}) == []
    assert schema_differences("item_catalog", catalog + [("price", "DOUBLE")], {}) == [
        "undeclared column price (DOUBLE)"
    ]
