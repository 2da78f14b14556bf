"""Shared fixtures: a small generated sample and one full pipeline run on real parts.

The run uses a real DuckDB file, Dagster's SQLite instance storage, a real SQLite MLflow store,
the packaged sentence-transformers model and the real hdbscan, all in a temporary folder. The helpers
behind them are in :mod:`interest_pipeline_tests.helpers`.
"""

import datetime as dt
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from interest_pipeline.sample_data import generate_sample  # noqa: E402
from interest_pipeline_tests.helpers import SMALL_SPEC, PipelineRun, make_resources, run_pipeline  # noqa: E402, F401  (also imported from here)


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    generate_sample(folder, SMALL_SPEC)
    return folder


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory, small_sample) -> PipelineRun:
    from dagster import DagsterInstance

    from interest_pipeline.cli import DAGSTER_YAML
    from interest_pipeline.definitions import build_definitions

    root = tmp_path_factory.mktemp("run")
    resources = make_resources(root, small_sample)
    last = SMALL_SPEC.start_date + dt.timedelta(days=SMALL_SPEC.n_days - 1)
    # the instance the main command uses (SQLite storage, deploy/local/dagster.yaml): the runs on
    # other instances (PostgreSQL, interest_pipeline_tests/deploy) are held against this one
    home = tmp_path_factory.mktemp("run_dagster_home")
    (home / "dagster.yaml").write_text(DAGSTER_YAML.read_text())
    with DagsterInstance.from_config(str(home)) as instance:
        ingest, model = run_pipeline(
            build_definitions(resources), instance, SMALL_SPEC.start_date.isoformat(), last.isoformat()
        )
    return PipelineRun(
        root,
        small_sample,
        root / "warehouse.duckdb",
        f"sqlite:///{root / 'mlflow.db'}",
        resources,
        ingest,
        model,
        dagster_home=home,
    )
