"""The ingest job: load, validate and store a range of log dates."""

from dagster import AssetSelection, define_asset_job

from interest_pipeline.defs.ingest.partitions import daily_log_partitions

INGEST_ASSETS = ("raw_behavior_logs", "rejected_events")

ingest_job = define_asset_job(
    "ingest_job",
    selection=AssetSelection.assets(*INGEST_ASSETS),
    partitions_def=daily_log_partitions,
    description="Load, validate and store the behaviour logs of a range of days (one run for the range).",
)
