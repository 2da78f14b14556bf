"""The jobs that span stages: rebuild the interest model on what is ingested, and the daily
update of what follows new data. (The ingest job is the ingest stage's own: defs/ingest/jobs.py.)"""

from dagster import AssetSelection, define_asset_job

from interest_pipeline.defs.ingest.jobs import INGEST_ASSETS

interest_model_job = define_asset_job(
    "interest_model_job",
    selection=AssetSelection.all() - AssetSelection.assets(*INGEST_ASSETS),
    description="Rebuild everything downstream of the logs: text, embeddings, features, clusters and layers.",
)

# The assets whose automation condition follows new logs (conventions.follow_new_data).
DAILY_UPDATE_ASSETS = (
    "tokenized_comments",
    "comment_embeddings",
    "item_embeddings",
    "user_behavior_features",
    "user_text_features",
    "fused_user_features",
    "incremental_topic_assignments",
    "user_interest_layers",
    "interest_expansion",
)

daily_update_job = define_asset_job(
    "daily_update_job",
    selection=AssetSelection.assets(*DAILY_UPDATE_ASSETS),
    description="What the automation sensor does after a new day lands: only the new day's texts, users and items are "
    "rebuilt (each table keeps fingerprints of its inputs); re-clustering and the take-up models wait for their cadence.",
)
