"""What every asset shares: the warehouse concurrency pool, tags and automation cadences."""

import os

from dagster import AutomationCondition

# DuckDB allows one writing process per file: every step that opens the warehouse takes a
# slot in this pool, whose limit the instance sets to 1 (dagster.yaml: concurrency.pools),
# so overlapping runs queue instead of failing on the file lock.
WAREHOUSE_POOL = "duckdb_warehouse"

# Re-clustering is the expensive step; weekly by default, any cron via the environment.
RECLUSTER_CRON = os.environ.get("INTEREST_PIPELINE_RECLUSTER_CRON", "0 3 * * 1")

# Cheap, cached stages follow new logs as soon as they land. Eager normally waits while any
# dependency is missing, and for an unpartitioned asset over daily logs a day without
# files would then block it forever, so that clause is dropped.
follow_new_data = AutomationCondition.eager().without(~AutomationCondition.any_deps_missing())
# Root inputs without partitions (the item catalogue) are reloaded once a day.
reload_daily = AutomationCondition.on_cron("45 0 * * *", cron_timezone="UTC")
# Clustering waits for its cadence, then runs once its inputs have been updated.
recluster_on_cadence = AutomationCondition.on_cron(RECLUSTER_CRON, cron_timezone="UTC")


def stage_tags(stage: str) -> dict[str, str]:
    return {"domain": "user-interests", "stage": stage}
