"""The comment embeddings' language check warns when the model the embeddings were built with
cannot read the comments."""

import json

import duckdb
import polars as pl
from dagster import AssetCheckSeverity
from dagster_duckdb import DuckDBResource

from interest_pipeline.core.text.models import PACKAGED_MODEL
from interest_pipeline.core.text.use_backend import PACKAGED_MULTILINGUAL_MODEL
from interest_pipeline.defs.text.checks import comment_languages_read
from interest_pipeline.defs.warehouse import PARAMETERS_TABLE


def warehouse_with_comments(tmp_path, languages, model_key):
    path = str(tmp_path / "w.duckdb")
    comments = pl.DataFrame({"comment_id": [f"c{i}" for i in range(len(languages))], "language": languages})
    with duckdb.connect(path) as conn:
        conn.register("_c", comments)
        conn.execute("CREATE TABLE tokenized_comments AS SELECT * FROM _c")
        conn.execute("CREATE TABLE comment_embeddings AS SELECT comment_id, [1.0]::FLOAT[] AS embedding FROM _c")
        conn.execute(f"CREATE TABLE {PARAMETERS_TABLE} (table_name VARCHAR PRIMARY KEY, parameters VARCHAR NOT NULL)")
        conn.execute(
            f"INSERT INTO {PARAMETERS_TABLE} VALUES ('comment_embeddings', ?)",
            [json.dumps({"model": f"{model_key}|max_seq_length=256", "model_reason": "set by the model setting"})],
        )
    return DuckDBResource(database=path)


def test_chinese_comments_under_the_english_model_warn_naming_share_languages_and_fix(tmp_path):
    warehouse = warehouse_with_comments(tmp_path, ["zh"] * 30 + ["en"] * 70 + [""] * 5, PACKAGED_MODEL)
    result = comment_languages_read(warehouse=warehouse)
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert "30.0% of 100 comments" in result.description and "zh 30" in result.description
    assert "INTEREST_PIPELINE_MODEL" in result.description and PACKAGED_MULTILINGUAL_MODEL in result.description
    assert result.metadata["unread_share"].value == 0.3
    assert result.metadata["model"].value == PACKAGED_MODEL


def test_a_multilingual_model_or_an_english_corpus_passes(tmp_path):
    for model in ("paraphrase-multilingual-MiniLM-L12-v2", PACKAGED_MULTILINGUAL_MODEL):
        (tmp_path / model).mkdir()
        chinese = warehouse_with_comments(tmp_path / model, ["zh"] * 30 + ["en"] * 70, model)
        assert comment_languages_read(warehouse=chinese).passed
    (tmp_path / "english").mkdir()
    english = warehouse_with_comments(tmp_path / "english", ["en"] * 98 + ["zh"] * 2, PACKAGED_MODEL)
    assert comment_languages_read(warehouse=english).passed
