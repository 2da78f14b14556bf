"""The two jobs run through Dagster on a benchmark folder, measured step by step."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from interest_pipeline.defs.resources import run_id_of_url
from interest_pipeline_tests.benchmarks.measure import StepProbe, Usage, Window

# Only warnings on the console; every event still reaches the instance (and the probe).
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

# Clustering timings the assets log to MLflow (seconds), shown beside their steps.
MLFLOW_TIMINGS = ("reduce_seconds", "hdbscan_seconds", "grouping_seconds", "runtime_seconds")


@dataclass(frozen=True)
class Workspace:
    """Where one benchmark keeps its inputs and outputs."""

    out: Path

    @property
    def sample(self) -> Path:
        return self.out / "sample"

    @property
    def warehouse(self) -> Path:
        return self.out / "warehouse.duckdb"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.out / 'mlflow.db'}"

    def embedding_model(self) -> str:
        """The model (cache key: model, truncation, precision) the last run embedded the texts with,
        as the pipeline recorded it beside ``comment_embeddings``."""
        import duckdb

        from interest_pipeline.defs.warehouse import read_parameters

        with duckdb.connect(str(self.warehouse), read_only=True) as conn:
            return read_parameters(conn, "comment_embeddings")["model"]

    def clear_outputs(self) -> None:
        """A fresh warehouse and MLflow store; the sample is rewritten separately."""
        for name in ("warehouse.duckdb", "warehouse.duckdb.wal", "mlflow.db"):
            (self.out / name).unlink(missing_ok=True)
        for name in ("mlflow-artifacts", "landing"):
            shutil.rmtree(self.out / name, ignore_errors=True)

    def resources(self, device: str, precision: str = "auto") -> dict:
        """The code location's resources (any the benchmark does not know keep their
        defaults), with storage, inputs and tracking pointed at this folder, and the embedding
        run on ``device`` in ``precision``."""
        from dagster_duckdb import DuckDBResource

        from interest_pipeline.definitions import build_resources
        from interest_pipeline.defs.resources import EventSource, MlflowTracking, SentenceEmbedder

        return {
            **build_resources(),
            "warehouse": DuckDBResource(database=str(self.warehouse)),
            "event_source": EventSource(
                events_dir=str(self.sample / "events"),
                items_path=str(self.sample / "items.csv"),
                landing_dir=str(self.out / "landing"),  # never created: nothing lands
            ),
            "embedder": SentenceEmbedder(device=device, precision=precision),
            "mlflow": MlflowTracking(tracking_uri=self.tracking_uri, artifact_root=str(self.out / "mlflow-artifacts")),
        }


@dataclass
class StepResult:
    job: str
    step_key: str
    assets: list[str]
    status: str
    usage: Usage
    rows: int | None  # dagster/row_count of the step's first asset
    metadata: dict[str, dict]  # per asset: its numeric and short text metadata
    checks: dict[str, bool] = field(default_factory=dict)
    mlflow_timings: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if not self.assets:
            return f"check {self.step_key}"
        return self.assets[0] + (f" (+{', '.join(self.assets[1:])})" if len(self.assets) > 1 else "")

    @property
    def rows_per_second(self) -> float | None:
        if self.rows is None or not self.usage.wall_s > 0:
            return None
        return self.rows / self.usage.wall_s

    def as_dict(self) -> dict:
        return {
            "job": self.job,
            "step_key": self.step_key,
            "label": self.label,
            "assets": self.assets,
            "status": self.status,
            **self.usage.as_dict(),
            "rows": self.rows,
            "rows_per_second": None if self.rows_per_second is None else round(self.rows_per_second, 1),
            "checks": self.checks,
            "mlflow_timings": self.mlflow_timings,
            "metadata": self.metadata,
        }


@dataclass
class JobResult:
    job: str
    success: bool
    usage: Usage  # the whole execute_in_process call
    steps: list[StepResult]

    @property
    def overhead_s(self) -> float:
        """Run time outside the steps: run creation, resource setup, event storage."""
        return self.usage.wall_s - sum(s.usage.wall_s for s in self.steps)

    def as_dict(self) -> dict:
        return {
            "job": self.job,
            "success": self.success,
            **self.usage.as_dict(),
            "overhead_s": round(self.overhead_s, 3),
            "steps": [s.as_dict() for s in self.steps],
        }


def _plain_metadata(metadata: dict) -> dict:
    """The metadata values worth keeping in results.json: numbers and short strings."""
    kept = {}
    for key, entry in metadata.items():
        value = getattr(entry, "value", entry)
        if isinstance(value, bool | int | float):
            kept[key] = value
        elif isinstance(value, str) and len(value) <= 200 and "\n" not in value:
            kept[key] = value
    return kept


def _steps_of(result, job: str, windows) -> list[StepResult]:
    from dagster import DagsterEventType

    assets: dict[str, list[str]] = {}
    metadata: dict[str, dict[str, dict]] = {}
    rows: dict[str, int | None] = {}
    for event in result.get_asset_materialization_events():
        key = event.asset_key.to_user_string()
        plain = _plain_metadata(event.materialization.metadata)
        if key in metadata.get(event.step_key, {}):
            continue  # a single-run backfill reports each partition with the same metadata
        assets.setdefault(event.step_key, []).append(key)
        metadata.setdefault(event.step_key, {})[key] = plain
        rows.setdefault(event.step_key, plain.get("dagster/row_count", plain.get("rows_accepted")))
    checks: dict[str, dict[str, bool]] = {}
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            checks.setdefault(event.step_key, {})[name] = bool(evaluation.passed)
    return [
        StepResult(
            job=job,
            step_key=w.step_key,
            assets=assets.get(w.step_key, []),
            status=w.status,
            usage=w.usage,
            rows=rows.get(w.step_key),
            metadata=metadata.get(w.step_key, {}),
            checks=checks.get(w.step_key, {}),
        )
        for w in sorted(windows, key=lambda w: w.started_at)
    ]


def _add_mlflow_timings(steps: list[StepResult], tracking_uri: str) -> None:
    from mlflow.tracking import MlflowClient

    client = None
    for step in steps:
        run_id = next((m["mlflow_run_id"] for m in step.metadata.values() if "mlflow_run_id" in m), None)
        if run_id is None:
            continue
        run_id = run_id_of_url(str(run_id))  # the clustering steps give a link to the run
        client = client or MlflowClient(tracking_uri=tracking_uri)
        metrics = client.get_run(run_id).data.metrics
        step.mlflow_timings = {k: round(metrics[k], 3) for k in MLFLOW_TIMINGS if k in metrics}


def run_job(definitions, instance, probe: StepProbe, job: str, tags: dict, tracking_uri: str) -> JobResult:
    """One in-process run of ``job``, measured as a whole and step by step; raises if it fails."""
    probe.take()
    window = Window()
    result = definitions.resolve_job_def(job).execute_in_process(
        run_config=QUIET_CONSOLE, instance=instance, tags=tags, raise_on_error=False
    )
    usage = window.close()
    steps = _steps_of(result, job, probe.take())
    # The probe resets the peak at every step start: the run's peak is the largest seen.
    usage.peak_rss_mb = max([usage.peak_rss_mb, *(s.usage.peak_rss_mb for s in steps)])
    if result.success and not steps:
        raise RuntimeError(f"{job} succeeded but no step events were observed: the step probe is not attached")
    _add_mlflow_timings(steps, tracking_uri)
    if not result.success:
        failed = [s.step_key for s in steps if s.status != "success"]
        raise RuntimeError(f"{job} failed (steps: {', '.join(failed) or 'none started'}); see the Dagster run logs")
    return JobResult(job, result.success, usage, steps)


def run_pipeline(definitions, instance, probe: StepProbe, first: str, last: str, tracking_uri: str) -> list[JobResult]:
    """``ingest_job`` over the log dates as one run (single-run backfill), then ``interest_model_job``."""
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    range_tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
    return [
        run_job(definitions, instance, probe, job, tags, tracking_uri)
        for job, tags in (("ingest_job", range_tags), ("interest_model_job", {}))
    ]


@contextlib.contextmanager
def temporary_instance():
    """An on-disk Dagster instance in a temporary DAGSTER_HOME, removed afterwards."""
    from dagster import DagsterInstance

    previous = os.environ.get("DAGSTER_HOME")
    with tempfile.TemporaryDirectory(prefix="dagster_home_") as home:
        Path(home, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = home
        try:
            with DagsterInstance.from_config(home) as instance:
                yield instance
        finally:
            if previous is None:
                os.environ.pop("DAGSTER_HOME", None)
            else:
                os.environ["DAGSTER_HOME"] = previous


def timed(label: str):
    """Print a progress line with the seconds a phase took."""
    start = time.perf_counter()

    def done(extra: str = "") -> None:
        print(f"  {label}: {time.perf_counter() - start:.1f} s{(' ' + extra) if extra else ''}", flush=True)

    return done
