"""What tests share beyond fixtures: the small sample's spec, resources in a temporary folder, and
one run of both jobs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from interest_pipeline.sample_data import SampleSpec

SMALL_SPEC = SampleSpec(n_users=300, n_items=120, n_days=10, mean_events_per_user=20, seed=11)

# Dagster's run tags for a single run over a partition range (as `dagster asset materialize
# --partition-range` sets them), spelled out rather than imported from Dagster's internals.
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass
class PipelineRun:
    root: Path
    sample_dir: Path
    warehouse: Path
    tracking_uri: str
    resources: dict
    ingest_result: object
    model_result: object
    dagster_home: Path | None = None  # the instance's folder (dagster.yaml, SQLite storage)


def make_resources(root: Path, sample_dir: Path) -> dict:
    """Every resource on real parts in ``root``: a DuckDB file, a SQLite MLflow store, the packaged model on CPU."""
    from interest_pipeline.defs.resources import (
        EventSource,
        MlflowTracking,
        PrivacySettings,
        SentenceEmbedder,
        Warehouse,
    )

    return {
        "privacy": PrivacySettings(),
        "warehouse": Warehouse(database=str(root / "warehouse.duckdb")),
        "event_source": EventSource(events_dir=str(sample_dir / "events"), items_path=str(sample_dir / "items.csv")),
        "embedder": SentenceEmbedder(device="cpu"),
        "mlflow": MlflowTracking(
            tracking_uri=f"sqlite:///{root / 'mlflow.db'}", artifact_root=str(root / "mlflow-artifacts")
        ),
    }


def run_pipeline(definitions, instance, first: str, last: str):
    """The ingest job over the log dates ``first`` to ``last`` in one run, then the model job."""
    ingest = definitions.resolve_job_def("ingest_job").execute_in_process(
        instance=instance, tags={PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last}
    )
    model = definitions.resolve_job_def("interest_model_job").execute_in_process(instance=instance)
    return ingest, model
