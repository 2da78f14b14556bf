"""Schedule: ingest each day's logs shortly after the day closes (UTC), whatever the partition grain."""

import datetime as dt

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from interest_pipeline.defs.ingest.jobs import ingest_job
from interest_pipeline.defs.ingest.partitions import log_partitions, partition_to_ingest


@schedule(
    name="daily_ingest_schedule",
    job=ingest_job,
    cron_schedule="30 0 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="At 00:30 UTC, ingest the log date that just closed: its day, or with weekly or monthly partitions the "
    "week or month that holds it (re-ingested whole as its days arrive). Text, embeddings, features and layers follow "
    "automatically (eager automation); re-clustering follows its own weekly cadence.",
)
def daily_ingest_schedule(context: ScheduleEvaluationContext):
    key, closed_day = partition_to_ingest(log_partitions, context.scheduled_execution_time or dt.datetime.now(dt.UTC))
    # One run per partition and day: a week or month is requested again on each of its days.
    # The partition tag is set here as Dagster would set it, so evaluating the schedule needs no repository.
    return RunRequest(run_key=f"{key}|{closed_day.isoformat()}", partition_key=key, tags={"dagster/partition": key})
