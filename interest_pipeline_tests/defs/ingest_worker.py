"""One ingest run in its own process (DuckDB locks are per process): ROOT SAMPLE START END."""

import sys
from pathlib import Path

from dagster import DagsterInstance
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from interest_pipeline.definitions import build_definitions
from interest_pipeline_tests.conftest import make_resources

if __name__ == "__main__":
    root, sample, start, end = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    definitions = build_definitions(make_resources(root, sample))
    with DagsterInstance.get() as instance:
        result = definitions.resolve_job_def("ingest_job").execute_in_process(
            instance=instance,
            tags={ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end},
            raise_on_error=False,
        )
    sys.exit(0 if result.success else 1)
