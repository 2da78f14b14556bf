"""The whole pipeline on an imported data set, in its own process: ROOT SAMPLE FIRST LAST [small].

A process of its own because the log-date partitions start at INTEREST_PIPELINE_START_DATE,
read when the definitions are imported, and public data sets are older than the default
start. ``small`` passes clustering settings meant for a few dozen points (the defaults ask
HDBSCAN for clusters of at least 10 points with min_samples 10). Prints one JSON line.
"""

import json
import os
import sys
import time
from pathlib import Path


def root_cause(error) -> str:
    while error.cause is not None:
        error = error.cause
    return error.message.strip()[:400]


if __name__ == "__main__":
    root, sample, first, last = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    small = len(sys.argv) > 5 and sys.argv[5] == "small"
    os.environ["INTEREST_PIPELINE_START_DATE"] = first
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    from dagster import DagsterInstance
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from interest_pipeline.definitions import build_definitions
    from interest_pipeline_tests.conftest import make_resources

    started = time.perf_counter()
    resources = make_resources(root, sample)
    definitions = build_definitions(resources)
    small_config = {"min_cluster_size": 3, "min_samples": 2, "umap_n_neighbors": 5}
    run_config = (
        {"ops": {"interest_topics": {"config": small_config}, "user_segments": {"config": small_config}}}
        if small
        else None
    )
    result = {}
    with DagsterInstance.ephemeral() as instance:
        ingest = definitions.resolve_job_def("ingest_job").execute_in_process(
            instance=instance,
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
            raise_on_error=False,
        )
        result["ingest_success"] = ingest.success
        model = definitions.resolve_job_def("interest_model_job").execute_in_process(
            instance=instance, run_config=run_config, raise_on_error=False
        )
        result["model_success"] = model.success
        result["failures"] = [
            f"{event.step_key}: {root_cause(event.event_specific_data.error)}"
            for job_result in (ingest, model)
            for event in job_result.all_events
            if event.is_step_failure
        ]
    result["seconds"] = round(time.perf_counter() - started, 1)
    with resources["warehouse"].get_connection() as conn:
        tables = {name for (name,) in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        result["rows"] = {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in sorted(tables)}
    print(json.dumps(result))
