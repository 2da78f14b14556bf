"""The executor: every step of a run in one process by default."""

from __future__ import annotations

from dagster import Field, Permissive, multi_or_in_process_executor

from interest_pipeline.defs.settings import setting_value

# Every step opens the one DuckDB file, which takes one writing process, and the warehouse pool
# (limit 1) runs them one at a time: a process per step adds only its start (5-10 s of imports
# each; the large benchmark's daily update took 202 s that way against 66-85 s in one process).
# Run config can still ask for a process per step: execution: {config: {multiprocess: {...}}}.
in_process_by_default_executor = multi_or_in_process_executor.configured(
    lambda config: config or {"in_process": {}},
    name="in_process_by_default",
    config_schema=Field(
        Permissive(),
        is_required=False,
        default_value={},
        description="{in_process: {...}} (the default) or {multiprocess: {...}}.",
    ),
)


def build_executor(name: str | None = None):
    """``in_process`` (the default: every step of a run in one process, or a process per step
    with run config ``multiprocess``), ``multiprocess`` (Dagster's default: a process per step,
    or one with run config ``in_process``), or ``k8s``: each step in its own Kubernetes pod
    (needs dagster-k8s; see deploy/kubernetes)."""
    name = (name or setting_value("INTEREST_PIPELINE_EXECUTOR")).strip().lower()
    if name == "in_process":
        return in_process_by_default_executor
    if name == "multiprocess":
        return multi_or_in_process_executor
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ValueError(f"INTEREST_PIPELINE_EXECUTOR={name!r}: expected in_process, multiprocess or k8s")
