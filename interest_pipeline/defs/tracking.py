"""What ties an MLflow run to the Dagster step that made it: its name, its tags, the step's phase log.

Every tracked step names its run ``<asset>-<UTC timestamp>`` and tags it with the Dagster run id,
the asset key, the partition range (when there is one) and the code version, so a run found in
MLflow leads back to its Dagster run, and the Dagster metadata links to the MLflow run.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import subprocess
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey

from interest_pipeline.core.common.phases import PhaseLog

RUN_ID_TAG = "dagster.run_id"
ASSET_KEY_TAG = "dagster.asset_key"
JOB_TAG = "dagster.job"
PARTITION_RANGE_TAG = "dagster.partition_range"
CODE_VERSION_TAG = "dagster.code_version"

# Dagster's run tags for one run over a partition range, and for one partition.
_RANGE_START, _RANGE_END, _PARTITION = (
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
    "dagster/partition",
)


def mlflow_run_name(asset: str, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"{asset}-{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"


@functools.lru_cache(maxsize=1)
@functools.cache
def package_code_version() -> str:
    """The package version, with the git commit when the code runs from a checkout."""
    try:
        version = importlib.metadata.version("interest_pipeline")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{version}+g{commit}" if commit else version


def partition_range(context: AssetExecutionContext) -> str | None:
    """``first...last`` (or the one key) of a partitioned step, else of the run's partition tags."""
    if context.has_partition_key_range:
        keys = context.partition_key_range
        return keys.start if keys.start == keys.end else f"{keys.start}...{keys.end}"
    tags = context.run.tags
    if _RANGE_START in tags:
        return f"{tags[_RANGE_START]}...{tags.get(_RANGE_END, tags[_RANGE_START])}"
    return tags.get(_PARTITION)


def dagster_run_tags(context: AssetExecutionContext, asset: str) -> dict[str, str]:
    code_version = context.assets_def.code_versions_by_key.get(AssetKey(asset)) or package_code_version()
    # Runs launched from an asset's page belong to Dagster's unnamed asset job ("__ASSET_JOB").
    job = context.job_name if not context.job_name.startswith("__") else "none (assets materialized directly)"
    tags = {RUN_ID_TAG: context.run_id, ASSET_KEY_TAG: asset, JOB_TAG: job, CODE_VERSION_TAG: code_version}
    partitions = partition_range(context)
    if partitions:
        tags[PARTITION_RANGE_TAG] = partitions
    return tags


def step_phases(context: AssetExecutionContext) -> PhaseLog:
    """A phase log that writes each finished phase to the step's log (the run page in the UI)."""
    return PhaseLog(report=context.log.info)
