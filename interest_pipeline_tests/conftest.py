"""Shared fixtures: a small generated sample and one full pipeline run on real parts.

The run uses a real DuckDB file, a real SQLite MLflow store, the packaged
sentence-transformers model and the real hdbscan, all in a temporary folder.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from interest_pipeline.sample_data import SampleSpec, generate_sample  # noqa: E402

SMALL_SPEC = SampleSpec(n_users=300, n_items=120, n_days=10, mean_events_per_user=20, seed=11)


@dataclass
class PipelineRun:
    root: Path
    sample_dir: Path
    warehouse: Path
    tracking_uri: str
    resources: dict
    ingest_result: object
    model_result: object


def make_resources(root: Path, sample_dir: Path) -> dict:
    from dagster_duckdb import DuckDBResource

    from interest_pipeline.defs.resources import EventSource, MlflowTracking, PrivacySettings, SentenceEmbedder

    return {
        "privacy": PrivacySettings(),
        "warehouse": DuckDBResource(database=str(root / "warehouse.duckdb")),
        "event_source": EventSource(events_dir=str(sample_dir / "events"), items_path=str(sample_dir / "items.csv")),
        "embedder": SentenceEmbedder(device="cpu"),
        "mlflow": MlflowTracking(tracking_uri=f"sqlite:///{root / 'mlflow.db'}", artifact_root=str(root / "mlflow-artifacts")),
    }


def run_pipeline(definitions, instance, first: str, last: str):
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    ingest = definitions.resolve_job_def("ingest_job").execute_in_process(
        instance=instance, tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
    )
    model = definitions.resolve_job_def("interest_model_job").execute_in_process(instance=instance)
    return ingest, model


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    generate_sample(folder, SMALL_SPEC)
    return folder


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory, small_sample) -> PipelineRun:
    from dagster import DagsterInstance

    from interest_pipeline.definitions import build_definitions

    root = tmp_path_factory.mktemp("run")
    resources = make_resources(root, small_sample)
    with DagsterInstance.ephemeral() as instance:
        last = (SMALL_SPEC.start_date.toordinal() + SMALL_SPEC.n_days - 1)
        import datetime as dt

        ingest, model = run_pipeline(
            build_definitions(resources), instance, SMALL_SPEC.start_date.isoformat(), dt.date.fromordinal(last).isoformat()
        )
    return PipelineRun(root, small_sample, root / "warehouse.duckdb", f"sqlite:///{root / 'mlflow.db'}", resources, ingest, model)
