"""The comment embeddings' language check warns when the model cannot read the comments."""

import duckdb
import polars as pl
from dagster import AssetCheckSeverity
from dagster_duckdb import DuckDBResource

from interest_pipeline.defs.resources import SentenceEmbedder
from interest_pipeline.defs.text.checks import comment_languages_read


def warehouse_with_comments(tmp_path, languages):
    path = str(tmp_path / "w.duckdb")
    comments = pl.DataFrame({"comment_id": [f"c{i}" for i in range(len(languages))], "language": languages})
    with duckdb.connect(path) as conn:
        conn.register("_c", comments)
        conn.execute("CREATE TABLE tokenized_comments AS SELECT * FROM _c")
        conn.execute("CREATE TABLE comment_embeddings AS SELECT comment_id, [1.0]::FLOAT[] AS embedding FROM _c")
    return DuckDBResource(database=path)


def test_chinese_comments_under_the_english_model_warn_naming_share_languages_and_fix(tmp_path):
    warehouse = warehouse_with_comments(tmp_path, ["zh"] * 30 + ["en"] * 70 + [""] * 5)
    result = comment_languages_read(warehouse=warehouse, embedder=SentenceEmbedder())
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert "30.0% of 100 comments" in result.description and "zh 30" in result.description
    assert "INTEREST_PIPELINE_MODEL" in result.description
    assert result.metadata["unread_share"].value == 0.3


def test_a_multilingual_model_or_an_english_corpus_passes(tmp_path):
    chinese = warehouse_with_comments(tmp_path, ["zh"] * 30 + ["en"] * 70)
    multilingual = SentenceEmbedder(model="paraphrase-multilingual-MiniLM-L12-v2")
    assert comment_languages_read(warehouse=chinese, embedder=multilingual).passed
    (tmp_path / "english").mkdir()
    english = warehouse_with_comments(tmp_path / "english", ["en"] * 98 + ["zh"] * 2)
    assert comment_languages_read(warehouse=english, embedder=SentenceEmbedder()).passed
