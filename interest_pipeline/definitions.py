"""The one Definitions object of the code location.

Deployment facts (paths, tracking URI, device) come from environment variables when set;
otherwise the embedded defaults apply: a DuckDB file and a SQLite MLflow store under data/,
the bundled sample data and the packaged sentence-transformers model.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions, EnvVar, Field, Permissive, load_asset_checks_from_modules, load_assets_from_modules, multi_or_in_process_executor

from interest_pipeline.core.privacy import settings_from_environment
from interest_pipeline.defs import jobs
from interest_pipeline.defs.automation import interest_automation_sensor
from interest_pipeline.defs.clustering import assets as clustering_assets
from interest_pipeline.defs.clustering import checks as clustering_checks
from interest_pipeline.defs.evaluation import assets as evaluation_assets
from interest_pipeline.defs.expansion import assets as expansion_assets
from interest_pipeline.defs.features import assets as feature_assets
from interest_pipeline.defs.ingest import assets as ingest_assets
from interest_pipeline.defs.ingest import checks as ingest_checks
from interest_pipeline.defs.ingest.schedules import daily_ingest_schedule
from interest_pipeline.defs.ingest.sensors import landing_folder_sensor
from interest_pipeline.defs.profiles import assets as profile_assets
from interest_pipeline.defs.profiles import checks as profile_checks
from interest_pipeline.defs.resources import EventSource, MlflowTracking, PrivacySettings, SentenceEmbedder, Warehouse
from interest_pipeline.defs.table_schemas import COLUMNS_CHECKS, with_table_schemas
from interest_pipeline.defs.text import assets as text_assets
from interest_pipeline.defs.text import checks as text_checks

def _resource_default(resource: type, field: str) -> str:
    return resource.model_fields[field].default


# The resources' own defaults where they have one; the warehouse file and the executor have none.
DEFAULTS = {
    "INTEREST_PIPELINE_WAREHOUSE": "data/warehouse.duckdb",
    "INTEREST_PIPELINE_EVENTS_DIR": _resource_default(EventSource, "events_dir"),
    "INTEREST_PIPELINE_ITEMS_PATH": _resource_default(EventSource, "items_path"),
    "INTEREST_PIPELINE_LANDING_DIR": _resource_default(EventSource, "landing_dir"),
    "INTEREST_PIPELINE_MODEL": _resource_default(SentenceEmbedder, "model"),
    "INTEREST_PIPELINE_DEVICE": _resource_default(SentenceEmbedder, "device"),
    "INTEREST_PIPELINE_PRECISION": _resource_default(SentenceEmbedder, "precision"),
    "MLFLOW_TRACKING_URI": _resource_default(MlflowTracking, "tracking_uri"),
    "INTEREST_PIPELINE_MLFLOW_ARTIFACTS": _resource_default(MlflowTracking, "artifact_root"),
    "INTEREST_PIPELINE_MLFLOW_UI_URL": _resource_default(MlflowTracking, "ui_url"),
    "INTEREST_PIPELINE_EXECUTOR": "in_process",
}


def setting(name: str):
    """An EnvVar where the deployment sets one (shown as such in the UI), else the default."""
    return EnvVar(name) if os.environ.get(name) else DEFAULTS[name]


def setting_value(name: str) -> str:
    """The value itself, for code outside Dagster's config (the command line)."""
    return os.environ.get(name) or DEFAULTS[name]


_stage_modules = [ingest_assets, text_assets, feature_assets, clustering_assets, profile_assets, expansion_assets, evaluation_assets]
_check_modules = [ingest_checks, text_checks, clustering_checks, profile_checks]


def _privacy() -> PrivacySettings:
    # Strict at load time: an undocumented switch value ("y", "enabled", "2") or a blank key stops
    # the code location from loading, so nothing can run with raw ids by mistake. The key stays an
    # EnvVar, so its value never shows in the UI.
    pseudonymise, _, mask = settings_from_environment(os.environ)
    return PrivacySettings(
        pseudonymise_user_ids=pseudonymise,
        pseudonym_key=EnvVar("INTEREST_PIPELINE_PSEUDONYM_KEY") if pseudonymise else "",
        mask_contact_details=mask,
    )


def build_resources() -> dict:
    return {
        "privacy": _privacy(),
        "warehouse": Warehouse(database=setting("INTEREST_PIPELINE_WAREHOUSE")),
        "event_source": EventSource(
            events_dir=setting("INTEREST_PIPELINE_EVENTS_DIR"),
            items_path=setting("INTEREST_PIPELINE_ITEMS_PATH"),
            landing_dir=setting("INTEREST_PIPELINE_LANDING_DIR"),
        ),
        "embedder": SentenceEmbedder(
            model=setting("INTEREST_PIPELINE_MODEL"),
            device=setting("INTEREST_PIPELINE_DEVICE"),
            precision=setting("INTEREST_PIPELINE_PRECISION"),
        ),
        "mlflow": MlflowTracking(
            tracking_uri=setting("MLFLOW_TRACKING_URI"),
            artifact_root=setting("INTEREST_PIPELINE_MLFLOW_ARTIFACTS"),
            ui_url=setting("INTEREST_PIPELINE_MLFLOW_UI_URL"),
        ),
    }


# Every step opens the one DuckDB file, which takes one writing process, and the warehouse pool
# (limit 1) runs them one at a time: a process per step adds only its start (5-10 s of imports
# each; the large benchmark's daily update took 202 s that way against 66-85 s in one process).
# Run config can still ask for a process per step: execution: {config: {multiprocess: {...}}}.
in_process_by_default_executor = multi_or_in_process_executor.configured(
    lambda config: config or {"in_process": {}},
    name="in_process_by_default",
    config_schema=Field(Permissive(), is_required=False, default_value={}, description="{in_process: {...}} (the default) or {multiprocess: {...}}."),
)


def build_executor(name: str | None = None):
    """``in_process`` (the default: every step of a run in one process, or a process per step
    with run config ``multiprocess``), ``multiprocess`` (Dagster's default: a process per step,
    or one with run config ``in_process``), or ``k8s``: each step in its own Kubernetes pod
    (needs dagster-k8s; see deploy/kubernetes)."""
    name = (name or setting_value("INTEREST_PIPELINE_EXECUTOR")).strip().lower()
    if name == "in_process":
        return in_process_by_default_executor
    if name == "multiprocess":
        return multi_or_in_process_executor
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ValueError(f"INTEREST_PIPELINE_EXECUTOR={name!r}: expected in_process, multiprocess or k8s")


def build_definitions(resources: dict | None = None, executor=None) -> Definitions:
    """The code location; tests pass resources that point at a temporary folder."""
    resources = resources or build_resources()
    defs = Definitions(
        assets=load_assets_from_modules(_stage_modules),
        asset_checks=[*load_asset_checks_from_modules(_check_modules), *COLUMNS_CHECKS.values()],
        jobs=[jobs.ingest_job, jobs.interest_model_job, jobs.daily_update_job],
        schedules=[daily_ingest_schedule],
        sensors=[landing_folder_sensor, interest_automation_sensor],
        resources=resources,
        executor=executor or build_executor(),
    )
    return with_table_schemas(defs, warehouse_database(resources["warehouse"]))


def warehouse_database(warehouse: Warehouse) -> str:
    """DuckDB's name for the warehouse database: the file's stem (as in warehouse.main.<table>)."""
    database = warehouse.database
    path = database.get_value() if isinstance(database, EnvVar) else database
    return Path(path).stem


defs = build_definitions()
