"""Schedules, sensors and automation conditions, evaluated against real definitions."""

import datetime as dt
import time

from dagster import (
    DagsterInstance,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
)

from interest_pipeline.definitions import build_definitions, defs
from interest_pipeline.defs.ingest.assets import raw_behavior_logs
from interest_pipeline.defs.ingest.sensors import landing_folder_sensor
from interest_pipeline.defs.resources import EventSource
from interest_pipeline_tests.conftest import make_resources

HEADER = "event_id,user_id,item_id,event_type,timestamp\n"


def land(folder, name, rows=1):
    path = folder / name
    path.write_text(HEADER + "".join(f"e{i},u1,i1,view,{name[7:17]}T10:00:00Z\n" for i in range(rows)))
    return path


def evaluate(folder, cursor):
    context = build_sensor_context(cursor=cursor, resources={"event_source": EventSource(landing_dir=str(folder))})
    result = landing_folder_sensor(context)
    return result, context.cursor


def test_landing_sensor_requests_each_new_file_once(tmp_path):
    land(tmp_path, "events_2026-10-03.csv")
    land(tmp_path, "events_2026-10-04.jsonl")
    land(tmp_path, "events_2026-10-04-late.csv")
    (tmp_path / "readme.txt").write_text("not events")
    (tmp_path / ".events_2026-10-05.csv").write_text("still being written")

    requests, cursor = evaluate(tmp_path, None)
    assert sorted(r.partition_key for r in requests) == ["2026-10-03", "2026-10-04"]  # one run per date
    assert "events_2026-10-04-late.csv" in next(r for r in requests if r.partition_key == "2026-10-04").run_key

    again, cursor = evaluate(tmp_path, cursor)
    assert isinstance(again, SkipReason)  # nothing is processed twice

    land(tmp_path, "events_2026-10-05.csv")  # arrives while the first runs are in progress
    arrived, cursor = evaluate(tmp_path, cursor)
    assert [r.partition_key for r in arrived] == ["2026-10-05"]

    time.sleep(0.01)
    land(tmp_path, "events_2026-10-03.csv", rows=3)  # rewritten: ingest that date again
    rewritten, cursor = evaluate(tmp_path, cursor)
    assert [r.partition_key for r in rewritten] == ["2026-10-03"]
    assert rewritten[0].run_key not in {r.run_key for r in requests}


def test_landing_sensor_skips_dates_outside_the_partitions(tmp_path):
    land(tmp_path, "events_1999-01-01.csv")
    result, _ = evaluate(tmp_path, None)
    assert isinstance(result, SkipReason)


def test_daily_schedule_ingests_the_day_that_just_closed():
    schedule = defs.resolve_schedule_def("daily_ingest_schedule")
    assert schedule.cron_schedule == "30 0 * * *" and schedule.execution_timezone in (None, "UTC")
    with DagsterInstance.ephemeral() as instance:
        context = build_schedule_context(
            instance=instance, scheduled_execution_time=dt.datetime(2026, 10, 12, 0, 30, tzinfo=dt.UTC)
        )
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2026-10-11"]


def test_new_logs_refresh_cheap_stages_but_not_clustering(small_sample, tmp_path):
    definitions = build_definitions(make_resources(tmp_path, small_sample))
    with DagsterInstance.ephemeral() as instance:
        first = evaluate_automation_conditions(defs=definitions, instance=instance)
        assert materialize(
            [raw_behavior_logs],
            instance=instance,
            partition_key="2026-10-02",
            resources=make_resources(tmp_path, small_sample),
        ).success
        after_ingest = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=first.cursor)
    requested = {r.key.to_user_string() for r in after_ingest.results if r.true_subset.size}
    assert {
        "tokenized_comments",
        "comment_embeddings",
        "user_behavior_features",
        "user_text_features",
        "fused_user_features",
        "user_interest_layers",
    } <= requested
    assert not {"interest_topics", "user_segments", "segment_peer_shares", "takeup_models"} & requested
