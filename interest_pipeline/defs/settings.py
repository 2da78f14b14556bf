"""Deployment settings: each comes from its environment variable where the deployment sets one
(shown as such in the UI), else the embedded default (a DuckDB file and a SQLite MLflow store under
data/, the bundled sample data, the packaged sentence-transformers model)."""

from __future__ import annotations

import os

from dagster import EnvVar

from interest_pipeline.core.ingest.privacy import settings_from_environment
from interest_pipeline.defs.resources import EventSource, MlflowTracking, PrivacySettings, SentenceEmbedder, Warehouse


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


def _set_value(name: str) -> str | None:
    """The variable's value where it is set; a variable set to nothing but blanks is a mistake (a
    typo in a deployment file), not a request for the default, and stops the code location."""
    value = os.environ.get(name)
    if value is not None and not value.strip():
        raise ValueError(
            f"{name} is set but blank; set it to a value or unset it to use the default {DEFAULTS[name]!r}"
        )
    return value


def setting(name: str):
    """An EnvVar where the deployment sets one (shown as such in the UI), else the default."""
    return EnvVar(name) if _set_value(name) else DEFAULTS[name]


def setting_value(name: str) -> str:
    """The value itself, for code outside Dagster's config (the command line)."""
    return _set_value(name) or DEFAULTS[name]


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
