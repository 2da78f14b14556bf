"""Jobs: ingest a range of log dates, and rebuild the interest model on what is ingested."""

from dagster import AssetSelection, define_asset_job

from interest_pipeline.defs.ingest.partitions import daily_log_partitions

ingest_selection = AssetSelection.assets("raw_behavior_logs", "rejected_events")

ingest_job = define_asset_job(
    "ingest_job",
    selection=ingest_selection,
    partitions_def=daily_log_partitions,
    description="Load, validate and store the behaviour logs of a range of days (one run for the range).",
)

interest_model_job = define_asset_job(
    "interest_model_job",
    selection=AssetSelection.all() - ingest_selection,
    description="Rebuild everything downstream of the logs: text, embeddings, features, clusters and layers.",
)
