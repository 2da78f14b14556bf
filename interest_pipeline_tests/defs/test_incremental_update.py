"""The daily update redoes only the new day's work and gives the tables a full rebuild gives."""

import csv
import shutil

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from interest_pipeline.definitions import defs
from interest_pipeline.defs.clustering.assets import incremental_topic_assignments
from interest_pipeline.defs.conventions import follow_new_data
from interest_pipeline.defs.features.assets import fused_user_features, user_behavior_features, user_text_features
from interest_pipeline.defs.ingest.assets import raw_behavior_logs
from interest_pipeline.defs.jobs import DAILY_UPDATE_ASSETS
from interest_pipeline.defs.profiles.assets import user_interest_layers
from interest_pipeline.defs.resources import EventSource
from interest_pipeline.defs.text.assets import comment_embeddings, item_embeddings, tokenized_comments
from interest_pipeline_tests.benchmarks.daily_update import DAILY_ASSETS
from interest_pipeline_tests.helpers import make_resources
from interest_pipeline_tests.table_diff import diff_tables

NEW_DAY = "2026-10-11"  # the day after the small sample ends
INCREMENTAL = [
    tokenized_comments,
    comment_embeddings,
    item_embeddings,
    user_behavior_features,
    user_text_features,
    fused_user_features,
    incremental_topic_assignments,
    user_interest_layers,
]
TOLERANCE = 1e-6


def test_the_benchmarks_daily_assets_are_the_assets_that_follow_new_data():
    eager = {
        key.to_user_string()
        for assets_def in defs.resolve_asset_graph().assets_defs
        for key, condition in assets_def.automation_conditions_by_key.items()
        if condition == follow_new_data
    }
    assert eager == set(DAILY_ASSETS) == set(DAILY_UPDATE_ASSETS)
    assert defs.resolve_job_def("daily_update_job").asset_layer.selected_asset_keys == {
        AssetKey(name) for name in DAILY_UPDATE_ASSETS
    }


def _new_day_file(warehouse, landing):
    """A day of ordinary traffic: known users on known items, a review, a search, and a newcomer."""
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        users = [
            r[0]
            for r in conn.execute(
                "SELECT user_id FROM fused_user_features WHERE NOT is_cold_start ORDER BY user_id LIMIT 3"
            ).fetchall()
        ]
        items = [r[0] for r in conn.execute("SELECT item_id FROM item_embeddings ORDER BY item_id LIMIT 3").fetchall()]
        review = conn.execute(
            "SELECT text FROM raw_behavior_logs WHERE event_type = 'review' AND length(text) > 60 ORDER BY event_id LIMIT 1"
        ).fetchone()[0]
        # a late arrival: an event older than its user's last one, landing with the new day (and
        # inside the ingest's one-day tolerance of the log date)
        late_user, late = conn.execute(
            "SELECT user_id, last_event_ts - INTERVAL 1 SECOND FROM user_behavior_features "
            "WHERE last_event_ts >= ?::TIMESTAMP - INTERVAL 1 DAY + INTERVAL 1 SECOND AND n_events >= 2 AND NOT list_contains(?, user_id) ORDER BY user_id LIMIT 1",
            [NEW_DAY, users[:3]],
        ).fetchone()
    rows = [
        ["n1", users[0], items[0], "view", f"{NEW_DAY}T08:00:00Z", "", ""],
        ["n2", users[0], items[1], "purchase", f"{NEW_DAY}T08:10:00Z", "", ""],
        ["n3", users[1], items[2], "review", f"{NEW_DAY}T09:00:00Z", "5", "Second one. " + review],
        ["n4", users[2], "", "search", f"{NEW_DAY}T10:00:00Z", "", "trail running shoes"],
        ["n5", "newcomer", items[0], "view", f"{NEW_DAY}T11:00:00Z", "", ""],
        ["n6", late_user, items[1], "click", late.strftime("%Y-%m-%dT%H:%M:%SZ"), "", ""],
    ]
    landing.mkdir()
    with (landing / f"events_{NEW_DAY}.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "user_id", "item_id", "event_type", "timestamp", "rating", "text"])
        writer.writerows(rows)
    return {"appended": {users[0], users[1], users[2]}, "late": late_user, "newcomer": "newcomer"}


def _metadata(result, asset):
    return {
        k: getattr(v, "value", v)
        for k, v in result.asset_materializations_for_node(asset.key.path[-1])[0].metadata.items()
    }


@pytest.fixture(scope="module")
def updated(pipeline_run, tmp_path_factory):
    """The sample's warehouse after the new day: updated incrementally, and rebuilt in full."""
    root = tmp_path_factory.mktemp("incremental")
    incremental, full = root / "incremental", root / "full"
    incremental.mkdir()
    shutil.copy(pipeline_run.warehouse, incremental / "warehouse.duckdb")
    new_day = _new_day_file(incremental / "warehouse.duckdb", root / "landing")
    sample = pipeline_run.sample_dir

    def resources(folder):
        return {
            **make_resources(folder, sample),
            "mlflow": pipeline_run.resources["mlflow"],  # the store holding the taxonomy's assignment model
            "event_source": EventSource(
                events_dir=str(sample / "events"),
                items_path=str(sample / "items.csv"),
                landing_dir=str(root / "landing"),
            ),
        }

    with DagsterInstance.ephemeral() as instance:
        assert materialize(
            [raw_behavior_logs], partition_key=NEW_DAY, resources=resources(incremental), instance=instance
        ).success
        full.mkdir()
        shutil.copy(incremental / "warehouse.duckdb", full / "warehouse.duckdb")
        first = materialize(INCREMENTAL, resources=resources(incremental), instance=instance)
        again = materialize(INCREMENTAL, resources=resources(incremental), instance=instance)
        rebuilt = materialize(
            INCREMENTAL,
            resources=resources(full),
            instance=instance,
            run_config={"ops": {a.op.name: {"config": {"full_refresh": True}} for a in INCREMENTAL}},
        )
    assert first.success and again.success and rebuilt.success
    return {
        "incremental": incremental / "warehouse.duckdb",
        "full": full / "warehouse.duckdb",
        "new_day": new_day,
        "first": first,
        "again": again,
        "rebuilt": rebuilt,
    }


def test_only_the_new_days_users_and_texts_are_rebuilt(updated):
    first = updated["first"]
    active = len(updated["new_day"]["appended"]) + 2  # and the late arrival's user, and the newcomer
    assert _metadata(first, tokenized_comments)["keys_rebuilt"] == 2  # the review and the search
    assert _metadata(first, comment_embeddings)["keys_rebuilt"] == 2
    assert _metadata(first, item_embeddings)["keys_rebuilt"] == 0
    for asset in (user_behavior_features, fused_user_features, user_interest_layers):
        metadata = _metadata(first, asset)
        assert metadata["update"] == "incremental", asset.key
        assert 1 <= metadata["keys_rebuilt"] <= active and metadata["keys_kept"] > 100, (asset.key, metadata)
    assert _metadata(first, user_text_features)["keys_rebuilt"] == 2  # the reviewer and the searcher
    assert _metadata(first, user_behavior_features)["keys_rebuilt"] == active


def test_users_whose_new_events_follow_their_old_ones_are_updated_from_the_new_events_alone(updated):
    """The three users with ordinary new events are appended to (their stored sums brought
    forward); the user with a late event and the newcomer are rebuilt from all their rows. That
    the tables still equal a full rebuild is the next test."""
    behavior = _metadata(updated["first"], user_behavior_features)
    assert behavior["keys_appended"] == len(updated["new_day"]["appended"])
    assert 1 <= _metadata(updated["first"], user_text_features)["keys_appended"] <= 2
    assert _metadata(updated["rebuilt"], user_behavior_features)["keys_appended"] == 0
    with duckdb.connect(str(updated["incremental"]), read_only=True) as conn:
        late = conn.execute(
            "SELECT s.n_rows, (SELECT count(*) FROM raw_behavior_logs WHERE user_id = s.key) FROM append_state s "
            "WHERE s.table_name = 'user_behavior_features' AND s.key = ?",
            [updated["new_day"]["late"]],
        ).fetchone()
    assert late[0] == late[1]  # the state follows the late event too


def test_the_update_gives_the_tables_of_a_full_rebuild(updated):
    assert all(_metadata(updated["rebuilt"], asset)["update"] == "full" for asset in INCREMENTAL)
    # a full rebuild (on a copy taken before the update) embeds only the new day's two texts: the cache has the rest
    for asset, new_texts in ((comment_embeddings, 2), (item_embeddings, 0)):
        metadata = _metadata(updated["rebuilt"], asset)
        assert metadata["texts_embedded"] == new_texts and metadata["texts_from_cache"] > 100, asset.key
    with (
        duckdb.connect(str(updated["incremental"]), read_only=True) as left,
        duckdb.connect(str(updated["full"]), read_only=True) as right,
    ):
        for asset in INCREMENTAL:
            diff = diff_tables(left, right, asset.key.path[-1])
            assert diff.same(TOLERANCE), diff.as_dict()
        newcomer = left.execute(
            "SELECT DISTINCT source FROM user_interest_layers WHERE user_id = 'newcomer'"
        ).fetchall()
        latest = left.execute(
            "SELECT max(last_event_ts), min(recency_days), max(recency_days) FROM user_behavior_features"
        ).fetchone()
    assert newcomer == [("popular",)] or newcomer == [("activity",)]
    assert (
        str(latest[0]).startswith(NEW_DAY) and latest[1] == pytest.approx(0.0) and latest[2] > 10
    )  # everyone's recency moved


def test_running_the_update_again_changes_nothing(updated):
    again = updated["again"]
    for asset in INCREMENTAL:
        metadata = _metadata(again, asset)
        assert (
            metadata["update"] == "incremental" and metadata["keys_rebuilt"] == 0 and metadata["keys_removed"] == 0
        ), (asset.key, metadata)


def test_other_parameters_rebuild_every_key(pipeline_run, tmp_path):
    shutil.copy(pipeline_run.warehouse, tmp_path / "warehouse.duckdb")
    resources = make_resources(tmp_path, pipeline_run.sample_dir)
    config = {"ops": {"user_behavior_features": {"config": {"half_life_days": 5.0}}}}
    with DagsterInstance.ephemeral() as instance:
        result = materialize([user_behavior_features], resources=resources, instance=instance, run_config=config)
    metadata = _metadata(result, user_behavior_features)
    assert metadata["update"] == "full" and metadata["update_reason"] == "parameters or shared inputs changed"
    assert AssetKey("user_behavior_features") in {e.asset_key for e in result.get_asset_materialization_events()}
