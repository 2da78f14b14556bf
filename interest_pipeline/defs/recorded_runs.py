"""Runs of the command line recorded as the web UI's own runs.

``execute_in_process`` stores a run without the code location it came from, so the Overview
timeline, the job's page and "Re-execute" in the UI do not know it. Here the run is created with
the same origin the UI gives it (module ``interest_pipeline.definitions``, code location
``interest_pipeline``, as in ``workspace.yaml``) and executed synchronously in this process with
the in-process executor.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dagster import DagsterInstance, JobDefinition
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.workspace.load import location_origin_from_module_name

DEFINITIONS_MODULE = "interest_pipeline.definitions"
# The name workspace.yaml and pyproject.toml give the code location.
CODE_LOCATION_NAME = "interest_pipeline"
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def remote_job_origin(job_name: str, working_directory: str | None = None) -> RemoteJobOrigin:
    """The origin the web UI records for ``job_name`` of this code location."""
    location = location_origin_from_module_name(
        DEFINITIONS_MODULE,
        attribute=None,
        working_directory=working_directory or os.getcwd(),
        location_name=CODE_LOCATION_NAME,
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME), job_name)


def execute_recorded(job: JobDefinition, instance: DagsterInstance, tags: Mapping[str, str] | None = None) -> bool:
    """Run ``job`` (of the module's ``defs``) in this process as a run of the code location; True on success."""
    working_directory = os.getcwd()
    recon_job = ReconstructableRepository.for_module(
        DEFINITIONS_MODULE, "defs", working_directory
    ).get_reconstructable_job(job.name)
    run = instance.create_run_for_job(
        job_def=job,
        run_config=IN_PROCESS,
        tags={**job.tags, **(tags or {})},
        remote_job_origin=remote_job_origin(job.name, working_directory),
        job_code_origin=recon_job.get_python_origin(),
    )
    return execute_run(recon_job, run, instance).success
