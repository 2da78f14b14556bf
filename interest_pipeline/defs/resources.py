"""Resources: where inputs come from, the embedding model, and the MLflow tracking store.

The DuckDB warehouse itself is ``dagster_duckdb.DuckDBResource`` (see ``definitions.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from dagster import ConfigurableResource
from pydantic import Field

from interest_pipeline.core import embedding as emb
from interest_pipeline.core.events import EventFileError, event_files_by_date, files_not_ingested
from interest_pipeline.core.privacy import parse_switch, pseudonym_key_bytes, settings_from_environment


ALLOW_EMPTY_PARTITIONS_VARIABLE = "INTEREST_PIPELINE_ALLOW_EMPTY_PARTITIONS"


class EventSource(ConfigurableResource):
    """Where the raw inputs land: one folder of daily event files and an item file."""

    events_dir: str = Field(default="data/sample/events", description="Folder of event files named with their log date, e.g. events_2026-10-01.csv.")
    items_path: str = Field(default="data/sample/items.csv", description="Item catalogue (CSV, JSONL or Parquet): item_id, title, description, optional category fields.")
    landing_dir: str = Field(default="data/landing", description="Folder watched by the landing sensor; its files are ingested with those of events_dir.")
    allow_empty_partitions: bool = Field(
        default=False,
        description="Allow a run to empty stored partitions whose files are gone, and to run without the events folder "
        f"(also switched on by {ALLOW_EMPTY_PARTITIONS_VARIABLE}=true). Off, such a run fails and stores nothing.",
    )

    def empty_partitions_allowed(self) -> bool:
        return self.allow_empty_partitions or parse_switch(
            ALLOW_EMPTY_PARTITIONS_VARIABLE, os.environ.get(ALLOW_EMPTY_PARTITIONS_VARIABLE), False
        )

    def check_events_dir(self) -> None:
        """A missing or mistyped events folder fails the run instead of emptying its partitions."""
        if not Path(self.events_dir).is_dir() and not self.empty_partitions_allowed():
            raise EventFileError(
                f"the events folder {self.events_dir} does not exist (INTEREST_PIPELINE_EVENTS_DIR); nothing was stored. "
                f"Set {ALLOW_EMPTY_PARTITIONS_VARIABLE}=true to ingest without it (only the landing folder)"
            )

    def files_for(self, log_date: dt.date) -> list[Path]:
        return self.files_by_date([log_date])[log_date]

    def files_by_date(self, log_dates: Sequence[dt.date]) -> dict[dt.date, list[Path]]:
        """The files of each of ``log_dates`` (events folder first, then landing), listing each folder once."""
        self.check_events_dir()
        found = [event_files_by_date(Path(folder)) for folder in (self.events_dir, self.landing_dir)]
        return {day: [path for by_date in found for path in by_date.get(day, [])] for day in log_dates}

    def files_not_ingested(self, start_date: dt.date | None = None) -> list[tuple[str, str, str]]:
        """(file name, folder, reason) of files in both folders that look like event files but are not read."""
        return [
            (name, folder, reason)
            for folder in (self.events_dir, self.landing_dir)
            for name, reason in files_not_ingested(Path(folder), start_date)
        ]


class PrivacySettings(ConfigurableResource):
    """What ingestion does to protect people: keyed pseudonyms for user ids, masked contact details."""

    pseudonymise_user_ids: bool = Field(default=False, description="Replace user ids by an HMAC-SHA256 pseudonym at ingestion, so the warehouse and MLflow never hold raw ids.")
    pseudonym_key: str = Field(default="", description="Secret key of the pseudonyms (set INTEREST_PIPELINE_PSEUDONYM_KEY); the same key keeps pseudonyms stable across partitions.")
    mask_contact_details: bool = Field(default=True, description="Mask e-mail addresses and phone numbers in user text before it is stored or embedded.")

    @classmethod
    def from_environment(cls, environ=None) -> "PrivacySettings":
        """The settings from INTEREST_PIPELINE_PSEUDONYMISE, _PSEUDONYM_KEY and _MASK_CONTACT_DETAILS;
        an undocumented switch value or a blank key raises."""
        pseudonymise, key, mask = settings_from_environment(os.environ if environ is None else environ)
        return cls(pseudonymise_user_ids=pseudonymise, pseudonym_key=key if pseudonymise else "", mask_contact_details=mask)

    def setup_for_execution(self, context) -> None:
        # Refuse to start a run that would store raw ids by mistake: a blank key, or a switch in
        # the environment that does not say clearly on or off (``y``, ``enabled``, ``2``).
        settings_from_environment(os.environ)
        self.key()

    def key(self) -> bytes | None:
        if not self.pseudonymise_user_ids:
            return None
        return pseudonym_key_bytes(self.pseudonym_key)


class SentenceEmbedder(ConfigurableResource):
    """A sentence-transformers model, loaded offline; the packaged all-MiniLM-L6-v2 by default."""

    model: str = Field(default=emb.PACKAGED_MODEL, description="Sentence-transformers model name or local path; the default is the packaged all-MiniLM-L6-v2.")
    device: str = Field(default="auto", description="'auto' (GPU when present), 'cpu', 'cuda' or 'cuda:N'.")
    batch_size: int = Field(default=64, description="Texts per forward pass.")
    max_seq_length: int = Field(default=256, description="Word pieces kept per text; longer texts are truncated.")
    precision: str = Field(default="float32", description="'float32', or 'bfloat16' for faster encoding on CPUs with bf16 units and on GPUs.")

    def cache_key(self) -> str:
        """Embeddings are reusable only for the same model, truncation length and precision."""
        suffix = "" if self.precision == "float32" else f"|precision={self.precision}"
        return f"{self.model}|max_seq_length={self.max_seq_length}{suffix}"

    def encode(self, texts: list[str]) -> np.ndarray:
        encoder = emb.load_model(self.model, self.device, self.max_seq_length, self.precision)
        return emb.encode_texts(encoder, texts, batch_size=self.batch_size)


class TrackedRun:
    """One open MLflow run; thin helpers over ``MlflowClient`` so nothing depends on global state."""

    def __init__(self, client, run_id: str):
        self.client = client
        self.run_id = run_id

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in sorted(params.items())])

    def log_metrics(self, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(dt.datetime.now().timestamp() * 1000)
        finite = {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, 0) for k, v in sorted(finite.items())])

    def log_bytes(self, content: bytes, file_name: str) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / file_name
            path.write_bytes(content)
            self.client.log_artifact(self.run_id, str(path))

    def log_json(self, content, file_name: str) -> None:
        self.log_bytes(json.dumps(content, indent=2, ensure_ascii=False, default=str).encode("utf-8"), file_name)

    def log_table(self, frame: pl.DataFrame, file_name: str) -> None:
        self.log_bytes(frame.write_csv().encode("utf-8"), file_name)


class MlflowTracking(ConfigurableResource):
    """Opens one MLflow run per clustering materialization, in an experiment named after the asset."""

    tracking_uri: str = Field(default="sqlite:///data/mlflow.db", description="MLflow tracking URI (a SQLite store by default; a tracking server in larger deployments).")
    artifact_root: str = Field(default="data/mlflow-artifacts", description="Folder or URI for artifacts of new experiments.")

    def _client(self):
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow.tracking import MlflowClient

        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return MlflowClient(tracking_uri=self.tracking_uri)

    def _experiment_id(self, client, name: str) -> str:
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        root = self.artifact_root
        if self.tracking_uri.startswith(("http://", "https://")):
            location = None  # a tracking server stores (or proxies) artifacts where it is configured to
        else:
            location = root if "://" in root else Path(root).resolve().joinpath(name).as_uri()
        return client.create_experiment(name, artifact_location=location)

    @contextlib.contextmanager
    def start_run(self, experiment: str, run_name: str, tags: dict[str, str] | None = None) -> Iterator[TrackedRun]:
        client = self._client()
        run = client.create_run(self._experiment_id(client, experiment), run_name=run_name, tags=tags or {})
        tracked = TrackedRun(client, run.info.run_id)
        try:
            yield tracked
        except BaseException:
            client.set_terminated(run.info.run_id, status="FAILED")
            raise
        client.set_terminated(run.info.run_id, status="FINISHED")

    def load_artifact(self, run_id: str, path: str) -> bytes:
        """The bytes of one artifact of a run (downloaded to a temporary folder)."""
        client = self._client()
        with tempfile.TemporaryDirectory() as folder:
            try:
                local = client.download_artifacts(run_id, path, folder)
            except Exception as error:  # MLflow raises several types for a missing run or file
                raise FileNotFoundError(f"MLflow run {run_id} at {self.tracking_uri}: cannot read artifact {path!r} ({error})") from error
            return Path(local).read_bytes()
