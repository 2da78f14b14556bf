"""A sample whose users write in English and Chinese: ``auto`` picks the multilingual model, says
why, and the taxonomy groups texts by what they are about rather than by their language."""

import dataclasses
import datetime as dt

import duckdb
import mlflow
import polars as pl
import pytest
from dagster import DagsterInstance, materialize

from interest_pipeline.core.clustering.agreement import agreement
from interest_pipeline.core.text.use_backend import PACKAGED_MULTILINGUAL_MODEL
from interest_pipeline.definitions import build_definitions
from interest_pipeline.defs.clustering.assets import interest_topics
from interest_pipeline.defs.ingest.assets import item_catalog
from interest_pipeline.defs.text.assets import comment_embeddings, item_embeddings, tokenized_comments
from interest_pipeline.sample_data import generate_sample
from interest_pipeline_tests.helpers import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    SMALL_SPEC,
    make_resources,
)

BILINGUAL_SPEC = dataclasses.replace(SMALL_SPEC, chinese_comment_share=0.4)


@pytest.fixture(scope="module")
def bilingual_run(tmp_path_factory):
    sample = tmp_path_factory.mktemp("bilingual_sample")
    generate_sample(sample, BILINGUAL_SPEC)
    root = tmp_path_factory.mktemp("bilingual_run")
    resources = make_resources(root, sample)
    last = BILINGUAL_SPEC.start_date + dt.timedelta(days=BILINGUAL_SPEC.n_days - 1)
    with DagsterInstance.ephemeral() as instance:
        ingest = (
            build_definitions(resources)
            .resolve_job_def("ingest_job")
            .execute_in_process(
                instance=instance,
                tags={
                    PARTITION_RANGE_START_TAG: BILINGUAL_SPEC.start_date.isoformat(),
                    PARTITION_RANGE_END_TAG: last.isoformat(),
                },
            )
        )
        assert ingest.success
        result = materialize(
            [item_catalog, tokenized_comments, item_embeddings, comment_embeddings, interest_topics],
            resources=resources,
            instance=instance,
        )
    return sample, root, resources, result


def test_auto_chooses_the_multilingual_model_and_says_why(bilingual_run):
    _, root, resources, result = bilingual_run
    for asset in ("item_embeddings", "comment_embeddings"):
        metadata = result.asset_materializations_for_node(asset)[0].metadata
        assert metadata["model"].value.startswith(PACKAGED_MULTILINGUAL_MODEL)
        assert metadata["model_reason"].value.startswith("auto: ") and "zh" in metadata["model_reason"].value
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        run_id = conn.execute("SELECT any_value(mlflow_run_id) FROM interest_topics").fetchone()[0]
    run = mlflow.MlflowClient(resources["mlflow"].tracking_uri).get_run(run_id)
    params = run.data.params
    # materialized without a named job (as from an asset's page): no internal job name in the tags
    assert run.data.tags["dagster.job"] == "none (assets materialized directly)"
    assert params["model"].startswith(PACKAGED_MULTILINGUAL_MODEL) and params["model_reason"].startswith("auto: ")
    assert params["languages_centred"] == "en,zh"


def test_topics_follow_what_the_texts_say_not_their_language(bilingual_run):
    sample, root, _, _ = bilingual_run
    truth = pl.read_csv(sample / "truth/texts.csv", infer_schema=False).filter(pl.col("kind") == "interest")
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        topics = conn.execute(
            "SELECT t.content_id AS event_id, t.topic_id, c.language FROM interest_topics t"
            " JOIN tokenized_comments c ON c.comment_id = t.content_id WHERE t.content_kind = 'comment' AND t.topic_id IS NOT NULL"
        ).pl()
    scored = topics.join(truth.select("event_id", pl.col("topic_id").alias("planted")), on="event_id")
    chinese = scored.filter(pl.col("language") == "zh")
    assert chinese.height >= 50
    by_topic = agreement(scored["planted"].to_list(), scored["topic_id"].to_list())["ami"]
    by_language = agreement(scored["language"].to_list(), scored["topic_id"].to_list())["ami"]
    chinese_by_topic = agreement(chinese["planted"].to_list(), chinese["topic_id"].to_list())["ami"]
    print(f"topic AMI {by_topic:.3f}, language AMI {by_language:.3f}, Chinese topic AMI {chinese_by_topic:.3f}")
    assert by_topic > 2 * by_language
    assert chinese_by_topic > 0.1
    # Chinese reviews share topics with English ones: no topic is (nearly) Chinese only
    shares = scored.group_by("topic_id").agg((pl.col("language") == "zh").mean().alias("zh"), pl.len())
    assert shares.filter(pl.col("len") >= 20)["zh"].max() < 0.9, shares


def test_the_summary_names_the_model_and_why(bilingual_run, capsys):
    from interest_pipeline.cli import print_embedding_model

    _, root, _, _ = bilingual_run
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        print_embedding_model(conn)
    printed = capsys.readouterr().out
    assert f"embedding model {PACKAGED_MULTILINGUAL_MODEL}" in printed and "auto: " in printed and "zh" in printed
