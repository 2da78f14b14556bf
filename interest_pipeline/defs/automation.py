"""The sensor that evaluates the assets' automation conditions (eager / weekly re-clustering)."""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

interest_automation_sensor = AutomationConditionSensorDefinition(
    "interest_automation_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    description="Keeps text, embeddings, features and layers up to date after new logs land, and re-clusters "
    "topics and segments on the weekly cadence (INTEREST_PIPELINE_RECLUSTER_CRON).",
)
