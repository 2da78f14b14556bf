"""item_recommendations on the small generated sample: built by the model job from the settings the
evaluation chose, unseen items only, and an interest for every recommendation that the layers confirm."""

import json
import shutil

import duckdb
import polars as pl
import pytest
from dagster import materialize
from dagster_duckdb import DuckDBResource

from interest_pipeline.core.recommendation.item_recommendations import SERVES, SOURCES, TIERS, TOP_N
from interest_pipeline.defs.recommendation.assets import item_recommendations
from interest_pipeline.defs.shared import SHIPPED_SETTINGS


@pytest.fixture(scope="module")
def tables(pipeline_run):
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        recommendations = conn.execute("SELECT * FROM item_recommendations").pl()
        events = conn.execute("SELECT DISTINCT user_id, item_id FROM raw_behavior_logs").pl()
        layers = conn.execute(
            "SELECT user_id, level, node_id, tier_long, tier_short FROM user_interest_layers WHERE source = 'activity'"
        ).pl()
        parameters = dict(conn.execute("SELECT table_name, parameters FROM asset_parameters").fetchall())
    return recommendations, events, layers, {k: json.loads(v) for k, v in parameters.items()}


def test_every_user_with_events_gets_top_n_unseen_items(pipeline_run, tables):
    recommendations, events, _, _ = tables
    assert set(recommendations["user_id"]) == set(events["user_id"])
    assert recommendations.group_by("user_id").len()["len"].unique().to_list() == [TOP_N]
    assert recommendations.join(events, on=["user_id", "item_id"], how="semi").height == 0
    assert recommendations.select("user_id", "item_id").n_unique() == recommendations.height
    ranks = recommendations.group_by("user_id").agg(pl.col("rank").sort())["rank"].to_list()
    assert all(r == list(range(1, TOP_N + 1)) for r in ranks)
    checks = {e.check_name: e.passed for e in pipeline_run.model_result.get_asset_check_evaluations()}
    assert checks["recommends_only_unseen_items"] is True


def test_the_interest_each_serves_is_the_one_the_layers_hold(tables):
    recommendations, _, layers, _ = tables
    assert set(recommendations["serves"]) <= set(SERVES) and set(recommendations["source"]) <= set(SOURCES)
    assert recommendations["reason"].null_count() == 0
    subtopics = layers.filter(pl.col("level") == "subtopic").rename({"node_id": "subtopic_id"})
    topics = layers.filter(pl.col("level") == "topic").select("user_id", pl.col("node_id").alias("topic_id"))
    tiered = recommendations.filter(pl.col("serves").is_in(list(TIERS))).join(
        subtopics, on=["user_id", "subtopic_id"], how="left"
    )
    # the tier named is the user's tier of that subtopic in the term named
    named = pl.when(pl.col("interest_term") == "long").then(pl.col("tier_long")).otherwise(pl.col("tier_short"))
    assert tiered.filter(named != pl.col("serves")).height == 0 and tiered["tier_long"].null_count() == 0
    # a new subtopic is one the user does not hold, of a topic the user does
    new = recommendations.filter(pl.col("serves") == "new_subtopic")
    assert new.join(subtopics, on=["user_id", "subtopic_id"], how="semi").height == 0
    assert new.join(topics, on=["user_id", "topic_id"], how="anti").height == 0
    # a new topic is one the user holds no part of
    new_topics = recommendations.filter(pl.col("serves") == "new_topic")
    assert new_topics.join(topics, on=["user_id", "topic_id"], how="semi").height == 0
    assert new_topics.join(subtopics, on=["user_id", "subtopic_id"], how="semi").height == 0
    print(recommendations["serves"].value_counts(normalize=True).sort("serves"))


def test_the_settings_applied_are_the_ones_the_evaluation_chose(tables):
    _, _, _, parameters = tables
    chosen = parameters["interest_evaluation"][SHIPPED_SETTINGS]
    assert parameters["item_recommendations"][SHIPPED_SETTINGS] == chosen
    assert set(chosen) == {"blend", "collaborative", "layered"}


def test_rebuilding_gives_the_same_table_and_it_needs_the_evaluation_first(pipeline_run, tables, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, warehouse)
    assert materialize([item_recommendations], resources={"warehouse": DuckDBResource(database=str(warehouse))}).success
    with duckdb.connect(str(warehouse)) as conn:
        rebuilt = conn.execute("SELECT * FROM item_recommendations").pl()
        assert rebuilt.sort("user_id", "rank").equals(tables[0].sort("user_id", "rank"))
        conn.execute("DELETE FROM asset_parameters WHERE table_name = 'interest_evaluation'")
    with pytest.raises(LookupError, match="materialize interest_evaluation"):
        materialize([item_recommendations], resources={"warehouse": DuckDBResource(database=str(warehouse))})


def test_the_summary_prints_what_the_items_serve_and_the_first_users_reasons(pipeline_run, tables, capsys):
    from interest_pipeline.cli import print_recommendations

    recommendations = tables[0]
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        print_recommendations(conn)
    lines = capsys.readouterr().out.strip().splitlines()
    users = recommendations["user_id"].n_unique()
    assert lines[0].startswith(f"item recommendations ({users:,d} users;")
    for serves, share in recommendations["serves"].value_counts(normalize=True).iter_rows():
        assert f"{serves} {share:.0%}" in lines[0]
    first = recommendations.filter(pl.col("user_id") == recommendations["user_id"].min()).sort("rank").head(3)
    assert lines[1:] == [
        f"  {u} #{r} {i}: {why}" for u, r, i, why in first.select("user_id", "rank", "item_id", "reason").iter_rows()
    ]
