"""Jobs: ingest a range of log dates, rebuild the interest model on what is ingested, and the
daily update of what follows new data."""

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

# The assets whose automation condition follows new logs (conventions.follow_new_data).
DAILY_UPDATE_ASSETS = (
    "tokenized_comments", "comment_embeddings", "item_embeddings", "user_behavior_features", "user_text_features",
    "fused_user_features", "incremental_topic_assignments", "user_interest_layers", "interest_expansion",
)

daily_update_job = define_asset_job(
    "daily_update_job",
    selection=AssetSelection.assets(*DAILY_UPDATE_ASSETS),
    description="What the automation sensor does after a new day lands: only the new day's texts, users and items are "
    "rebuilt (each table keeps fingerprints of its inputs); re-clustering and the take-up models wait for their cadence.",
)
