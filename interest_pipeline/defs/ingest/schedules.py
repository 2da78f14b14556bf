"""Schedule: ingest each day's logs shortly after the day closes (UTC)."""

from dagster import build_schedule_from_partitioned_job

from interest_pipeline.defs.jobs import ingest_job

daily_ingest_schedule = build_schedule_from_partitioned_job(
    ingest_job,
    name="daily_ingest_schedule",
    description="At 00:30 UTC, ingest the log date that just closed. Text, embeddings, features and layers follow "
    "automatically (eager automation); re-clustering follows its own weekly cadence.",
    hour_of_day=0,
    minute_of_hour=30,
)
