"""What every asset shares: the warehouse concurrency pool, the stage's group, tags and kind, and
the automation cadences.

The pool is set by the decorators below; group, tags and the ``duckdb`` kind are applied once per
stage when its definitions are loaded (:func:`stage_definitions`).
"""

import functools
import os
import warnings
from types import ModuleType

from dagster import AutomationCondition, Definitions, PreviewWarning, asset, load_definitions_from_modules, multi_asset

# DuckDB allows one writing process per file: every step that opens the warehouse takes a
# slot in this pool, whose limit the instance sets to 1 (dagster.yaml: concurrency.pools),
# so overlapping runs queue instead of failing on the file lock.
WAREHOUSE_POOL = "duckdb_warehouse"

# Every asset writes to the warehouse, so every asset takes a slot.
warehouse_asset = functools.partial(asset, pool=WAREHOUSE_POOL)
warehouse_multi_asset = functools.partial(multi_asset, pool=WAREHOUSE_POOL)

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


def stage_definitions(stage: str, *modules: ModuleType) -> Definitions:
    """The assets, checks, jobs, schedules and sensors of one stage's modules, each asset in the
    stage's group with its tags and the ``duckdb`` kind (every table lands in the warehouse)."""
    with warnings.catch_warnings():
        # Both are "preview" in Dagster 1.13 (stable in behaviour; only their signatures may move).
        warnings.simplefilter("ignore", PreviewWarning)
        return load_definitions_from_modules(modules).map_asset_specs(
            func=lambda spec: spec.replace_attributes(group_name=stage).merge_attributes(
                tags=stage_tags(stage), kinds={"duckdb"}
            )
        )
