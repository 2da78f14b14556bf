"""Resources: the DuckDB warehouse, where inputs come from, the embedding model, and the MLflow tracking store."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource
from pydantic import Field

from interest_pipeline.core.ingest.event_files import event_files_by_date, files_not_ingested
from interest_pipeline.core.ingest.event_schema import EventFileError
from interest_pipeline.core.ingest.privacy import parse_switch, pseudonym_key_bytes, settings_from_environment
from interest_pipeline.core.text import encoding
from interest_pipeline.core.text import models as embedding_models
from interest_pipeline.core.text import precision as embedding_precision
from interest_pipeline.core.text.languages import MAX_UNREAD_SHARE, ModelChoice, choose_model
from interest_pipeline.core.text.use_backend import PACKAGED_MULTILINGUAL_MODEL
from interest_pipeline.defs.mlflow_store import moved_location, relocate_experiment

ALLOW_EMPTY_PARTITIONS_VARIABLE = "INTEREST_PIPELINE_ALLOW_EMPTY_PARTITIONS"


def tag_run_host(instance, run_id: str) -> None:
    """Record this machine's name with the run (``RUN_HOST_TAG``), once."""
    from interest_pipeline.defs.instance_setup import RUN_HOST_TAG, this_host

    run = instance.get_run_by_id(run_id)
    if run is not None and run.tags.get(RUN_HOST_TAG) != this_host():
        instance.add_run_tags(run_id, {RUN_HOST_TAG: this_host()})


class Warehouse(DuckDBResource):
    """The DuckDB file that holds every table of the pipeline (INTEREST_PIPELINE_WAREHOUSE); writers
    take the `warehouse` pool's one slot, so a single process writes at a time."""

    @contextlib.contextmanager
    def get_connection(self):
        # DuckDB's connect is retried for a lock held by another process; a folder that does not
        # exist would be retried the same way for minutes, so it fails at once, naming the path.
        folder = Path(self.database).parent
        if self.database != ":memory:" and not folder.is_dir():
            raise FileNotFoundError(
                f"the warehouse {self.database} is in a folder that does not exist ({folder}); "
                "create the folder or point INTEREST_PIPELINE_WAREHOUSE at an existing one"
            )
        with super().get_connection() as conn:
            yield conn

    def setup_for_execution(self, context) -> None:
        # Every run that writes the warehouse says on which machine it runs, so that the dead-run
        # sensor judges a run's process only on that machine (defs/instance_setup.py).
        if context.instance is not None and context.run_id:
            tag_run_host(context.instance, context.run_id)


class EventSource(ConfigurableResource):
    """Where the raw inputs land: one folder of daily event files and an item file."""

    events_dir: str = Field(
        default="data/sample/events",
        description="Folder of event files named with their log date, e.g. events_2026-10-01.csv.",
    )
    items_path: str = Field(
        default="data/sample/items.csv",
        description="Item catalogue (CSV, JSONL or Parquet): item_id, title, description, optional category fields.",
    )
    landing_dir: str = Field(
        default="data/landing",
        description="Folder watched by the landing sensor; its files are ingested with those of events_dir.",
    )
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

    def folders(self) -> list[str]:
        """The events folder, then the landing folder unless it is the same one (an import written
        into the landing folder and named as the events folder is read once)."""
        same = Path(self.events_dir).resolve() == Path(self.landing_dir).resolve()
        return [self.events_dir] if same else [self.events_dir, self.landing_dir]

    def files_for(self, log_date: dt.date) -> list[Path]:
        return self.files_by_date([log_date])[log_date]

    def files_by_date(self, log_dates: Sequence[dt.date]) -> dict[dt.date, list[Path]]:
        """The files of each of ``log_dates`` (events folder first, then landing), listing each folder once."""
        self.check_events_dir()
        found = [event_files_by_date(Path(folder)) for folder in self.folders()]
        return {day: [path for by_date in found for path in by_date.get(day, [])] for day in log_dates}

    def files_not_ingested(
        self, start_date: dt.date | None = None, last_date: dt.date | None = None
    ) -> list[tuple[str, str, str]]:
        """(file name, folder, reason) of files in both folders that look like event files but are not read."""
        return [
            (name, folder, reason)
            for folder in self.folders()
            for name, reason in files_not_ingested(Path(folder), start_date, last_date)
        ]


class PrivacySettings(ConfigurableResource):
    """What ingestion does to protect people: keyed pseudonyms for user ids, masked contact details."""

    pseudonymise_user_ids: bool = Field(
        default=False,
        description="Replace user ids by an HMAC-SHA256 pseudonym at ingestion, so the warehouse and MLflow never hold raw ids.",
    )
    pseudonym_key: str = Field(
        default="",
        description="Secret key of the pseudonyms (set INTEREST_PIPELINE_PSEUDONYM_KEY); the same key keeps pseudonyms stable across partitions.",
    )
    mask_contact_details: bool = Field(
        default=True,
        description="Mask e-mail addresses and phone numbers in user text before it is stored or embedded.",
    )

    @classmethod
    def from_environment(cls, environ=None) -> PrivacySettings:
        """The settings from INTEREST_PIPELINE_PSEUDONYMISE, _PSEUDONYM_KEY and _MASK_CONTACT_DETAILS;
        an undocumented switch value or a blank key raises."""
        pseudonymise, key, mask = settings_from_environment(os.environ if environ is None else environ)
        return cls(
            pseudonymise_user_ids=pseudonymise, pseudonym_key=key if pseudonymise else "", mask_contact_details=mask
        )

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
    """The embedding model, loaded offline: by default chosen by the corpus's languages between the
    two packaged models (see :meth:`for_languages`)."""

    model: str = Field(
        default=embedding_models.AUTO_MODEL,
        description="'auto' (the packaged all-MiniLM-L6-v2 for English corpora, the packaged multilingual Universal "
        f"Sentence Encoder v3 when over {MAX_UNREAD_SHARE:.0%} of the texts are in other scripts), "
        f"'{embedding_models.PACKAGED_MODEL}', '{PACKAGED_MULTILINGUAL_MODEL}', or any sentence-transformers model "
        "name or local path.",
    )
    device: str = Field(default="auto", description="'auto' (GPU when present), 'cpu', 'cuda' or 'cuda:N'.")
    batch_size: int = Field(
        default=encoding.BATCH_SIZE, ge=1, description="Texts per forward pass (texts are batched by token length)."
    )
    max_batch_tokens: int = Field(
        default=encoding.MAX_BATCH_TOKENS,
        ge=1,
        description="Padded word pieces per forward pass (texts x the batch's longest text); long texts go in smaller batches.",
    )
    max_seq_length: int = Field(default=256, description="Word pieces kept per text; longer texts are truncated.")
    precision: str = Field(
        default="auto",
        description="'auto' (bf16 on a GPU or a CPU with bf16 units if its vectors pass the cosine guard against float32, else float32), "
        "'float32', 'bfloat16', or 'int8' (ONNX Runtime, CPU; needs the int8 extra).",
    )

    def for_languages(self, texts_per_language: Mapping[str, int]) -> tuple[SentenceEmbedder, ModelChoice]:
        """This embedder with ``auto`` resolved for a corpus with these texts per language, and why."""
        choice = choose_model(self.model, texts_per_language)
        settings = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self)(**{**settings, "model": choice.model}), choice

    def resolved_precision(self) -> str:
        """The precision the vectors are made with (``auto`` resolved and guarded)."""
        if self.model == embedding_models.AUTO_MODEL:
            raise ValueError("the model setting 'auto' is resolved for a corpus first (SentenceEmbedder.for_languages)")
        return embedding_models.guarded_precision(self.model, self.device, self.max_seq_length, self.precision)

    def cache_key(self) -> str:
        """Embeddings are reusable only for the same model, truncation length and precision (backend)."""
        return f"{self.model}|max_seq_length={self.max_seq_length}{embedding_precision.precision_key(self.resolved_precision())}"

    def encode(self, texts: list[str], progress: encoding.Progress | None = None) -> np.ndarray:
        encoder = embedding_models.load_model(self.model, self.device, self.max_seq_length, self.resolved_precision())
        return encoding.encode_texts(
            encoder, texts, batch_size=self.batch_size, progress=progress, max_batch_tokens=self.max_batch_tokens
        )


class TrackedRun:
    """One open MLflow run; thin helpers over ``MlflowClient`` so nothing depends on global state."""

    def __init__(self, client, run_id: str, experiment_id: str = "", url: str = ""):
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.url = url  # the run's page in the MLflow UI

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
        """A CSV file among the artifacts."""
        self.log_bytes(frame.write_csv().encode("utf-8"), file_name)

    def log_mlflow_table(self, frame: pl.DataFrame, file_name: str) -> None:
        """MLflow's own table (``mlflow.log_table``, a ``.json`` artifact the UI shows as a table and
        ``MlflowClient.load_table`` reads back)."""
        self.client.log_table(self.run_id, frame.to_dict(as_series=False), file_name)

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in sorted(tags.items())])


# MLflow's own experiment tags: the UI's kind switch (model development, not its GenAI view with
# traces) and the description shown on the experiment page.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_DEVELOPMENT = "custom_model_development"
NOTE_TAG = "mlflow.note.content"


# MLflow's own defaults retry an unreachable tracking server for about four minutes (7 retries,
# backoff factor 2, 120 s per request), so a step with the server down seemed to hang. These bounds
# fail it within about ten seconds; a deployment that wants more patience sets MLflow's variables.
HTTP_REQUEST_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}


class TrackingStoreError(RuntimeError):
    """The MLflow tracking store (a server, a database) did not take a run; the message names it."""


def run_id_of_url(url: str) -> str:
    """The MLflow run id at the end of a run's page address (:meth:`MlflowTracking.run_url`)."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


class MlflowTracking(ConfigurableResource):
    """Opens one MLflow run per clustering materialization, in an experiment named after the asset."""

    tracking_uri: str = Field(
        default="sqlite:///data/mlflow.db",
        description="MLflow tracking URI (a SQLite store by default; a tracking server in larger deployments).",
    )
    artifact_root: str = Field(
        default="data/mlflow-artifacts", description="Folder or URI for artifacts of new experiments."
    )
    ui_url: str = Field(
        default="http://127.0.0.1:5000",
        description="Base URL of the MLflow UI on this store (INTEREST_PIPELINE_MLFLOW_UI_URL); run links in the Dagster metadata point there.",
    )

    def _client(self):
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow.tracking import MlflowClient

        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if self.tracking_uri.startswith(("http://", "https://")):
            for name, value in HTTP_REQUEST_BOUNDS.items():
                os.environ.setdefault(name, value)  # read by MLflow at each request
        return MlflowClient(tracking_uri=self.tracking_uri)

    def _experiment_id(self, client, name: str, description: str | None = None) -> str:
        experiment = client.get_experiment_by_name(name)
        wanted = {EXPERIMENT_KIND_TAG: MODEL_DEVELOPMENT, **({NOTE_TAG: description} if description else {})}
        if experiment is not None:
            self._follow_a_copied_project(experiment, name)
            # Experiments made before these tags existed get them too; unchanged tags are not rewritten.
            for key, value in wanted.items():
                if experiment.tags.get(key) != value:
                    client.set_experiment_tag(experiment.experiment_id, key, value)
            return experiment.experiment_id
        root = self.artifact_root
        if self.tracking_uri.startswith(("http://", "https://")):
            location = None  # a tracking server stores (or proxies) artifacts where it is configured to
        else:
            location = root if "://" in root else Path(root).resolve().joinpath(name).as_uri()
        return client.create_experiment(name, artifact_location=location, tags=wanted)

    def _follow_a_copied_project(self, experiment, name: str) -> None:
        """A copied or moved project (a SQLite store whose experiment keeps its artifacts in another
        folder than the configured one, which holds them): the store is pointed at this project's
        folder, so that nothing is written into the original's."""
        if not self.tracking_uri.startswith("sqlite:///") or "://" in self.artifact_root:
            return
        new = moved_location(experiment.artifact_location, Path(self.artifact_root) / name)
        if new is not None:
            database = Path(self.tracking_uri.removeprefix("sqlite:///"))
            rows = relocate_experiment(database, experiment.experiment_id, experiment.artifact_location, new)
            warnings.warn(
                f"MLflow experiment {name} kept its artifacts in {experiment.artifact_location}; this project's copy "
                f"of them is {new}: {rows} locations in {database} now point there",
                stacklevel=2,
            )

    def run_url(self, experiment_id: str, run_id: str) -> str:
        """The run's page in the MLflow UI, in its model-training view (MLflow 3's UI otherwise opens
        an experiment in the view it last showed in that browser, by default the GenAI one)."""
        return f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"

    def url_of_run(self, run_id: str) -> str:
        """The page of a stored run, found by its id alone."""
        return self.run_url(self._client().get_run(run_id).info.experiment_id, run_id)

    @contextlib.contextmanager
    def start_run(
        self,
        experiment: str,
        run_name: str,
        tags: dict[str, str] | None = None,
        experiment_description: str | None = None,
    ) -> Iterator[TrackedRun]:
        """An open run, FINISHED when the block ends and FAILED when it raises; open it before the
        heavy work so that the run's duration in MLflow is the step's."""
        client = self._client()
        try:
            experiment_id = self._experiment_id(client, experiment, experiment_description)
            run = client.create_run(experiment_id, run_name=run_name, tags=tags or {})
        except Exception as error:
            raise TrackingStoreError(
                f"the MLflow tracking store {self.tracking_uri} did not open a run in experiment {experiment!r}: {error}"
            ) from error
        run_id = run.info.run_id
        tracked = TrackedRun(client, run_id, experiment_id, self.run_url(experiment_id, run_id))
        try:
            yield tracked
        except BaseException as error:
            try:
                client.set_terminated(run_id, status="FAILED")
            except Exception as end_error:  # the store went away: keep the step's own error on top
                error.add_note(
                    f"MLflow run {run_id} at {self.tracking_uri} could not be marked FAILED ({type(end_error).__name__}); "
                    "it shows as RUNNING until ended with MlflowClient.set_terminated"
                )
            raise
        try:
            client.set_terminated(run_id, status="FINISHED")
        except Exception as error:
            raise TrackingStoreError(
                f"the MLflow tracking store {self.tracking_uri} did not end run {run_id}: {error}"
            ) from error

    def load_artifact(self, run_id: str, path: str) -> bytes:
        """The bytes of one artifact of a run (downloaded to a temporary folder)."""
        client = self._client()
        with tempfile.TemporaryDirectory() as folder:
            try:
                local = client.download_artifacts(run_id, path, folder)
            except Exception as error:  # MLflow raises several types for a missing run or file
                raise FileNotFoundError(
                    f"MLflow run {run_id} at {self.tracking_uri}: cannot read artifact {path!r} ({error})"
                ) from error
            return Path(local).read_bytes()
