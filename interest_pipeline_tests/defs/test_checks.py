"""The checks fail on broken tables: each is run against a warehouse that breaks its rule."""

import shutil

import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from interest_pipeline.defs.clustering.checks import hierarchy_is_a_tree
from interest_pipeline.defs.profiles.checks import every_user_covered
from interest_pipeline.defs.table_schemas import COLUMNS_CHECKS
from interest_pipeline.defs.text.checks import comment_embeddings_valid

raw_behavior_logs_schema = COLUMNS_CHECKS["raw_behavior_logs"]


@pytest.fixture
def broken_copy(pipeline_run, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, path)
    return path


def run_check(check, path):
    return check(DuckDBResource(database=str(path)))


@pytest.mark.parametrize(
    "check, breakage",
    [
        (
            raw_behavior_logs_schema,
            "UPDATE raw_behavior_logs SET user_id = NULL WHERE event_id IN (SELECT event_id FROM raw_behavior_logs LIMIT 3)",
        ),
        (raw_behavior_logs_schema, "ALTER TABLE raw_behavior_logs DROP COLUMN source_row"),
        (
            comment_embeddings_valid,
            "DELETE FROM comment_embeddings WHERE comment_id IN (SELECT comment_id FROM comment_embeddings LIMIT 1)",
        ),
        (
            comment_embeddings_valid,
            "UPDATE comment_embeddings SET embedding = list_transform(embedding, x -> x * 2) WHERE comment_id IN (SELECT comment_id FROM comment_embeddings LIMIT 1)",
        ),
        (
            comment_embeddings_valid,
            "UPDATE comment_embeddings SET embedding = list_transform(embedding, x -> 'nan'::FLOAT) WHERE comment_id IN (SELECT comment_id FROM comment_embeddings LIMIT 1)",
        ),
        (
            hierarchy_is_a_tree,
            "UPDATE interest_hierarchy SET parent_id = 'nowhere' WHERE node_id IN (SELECT node_id FROM interest_hierarchy WHERE level = 'subtopic' LIMIT 1)",
        ),
        (hierarchy_is_a_tree, "INSERT INTO interest_hierarchy SELECT * FROM interest_hierarchy WHERE level = 'root'"),
        (
            every_user_covered,
            "DELETE FROM user_interest_layers WHERE NOT is_cold_start AND user_id IN (SELECT user_id FROM user_interest_layers WHERE NOT is_cold_start LIMIT 1)",
        ),
    ],
)
def test_check_passes_on_the_real_tables_and_fails_when_broken(broken_copy, check, breakage):
    assert run_check(check, broken_copy).passed
    with duckdb.connect(str(broken_copy)) as conn:
        conn.execute(breakage)
    assert not run_check(check, broken_copy).passed
