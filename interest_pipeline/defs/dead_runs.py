"""The sensor that frees the warehouse pool from runs whose process died.

A run killed with kill -9 (or lost with its machine) never ends in Dagster's storage and keeps its
slot in the ``duckdb_warehouse`` pool, so every later run waits for it, whichever way it was
launched: the UI, a schedule, the landing sensor, or ``dagster asset materialize``. Dagster's run
monitoring frees the slots of runs that *ended*; this sensor, run by the same daemon (``dagster dev``
or ``dagster-daemon run``), marks runs whose process is gone as failed and frees their slots, so a
waiting run proceeds within a minute. Without a daemon, ``python -m interest_pipeline release-slots``
does the same once (the main command does it before its runs).
"""

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from interest_pipeline.defs.instance_setup import release_slots_of_dead_runs


@sensor(
    name="dead_run_slot_sensor",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Every minute, marks runs whose process is gone (killed, crashed) as failed and frees their "
    "duckdb_warehouse pool slots, so runs waiting for the pool proceed.",
)
def dead_run_slot_sensor(context: SensorEvaluationContext):
    released = release_slots_of_dead_runs(context.instance)
    for run_id in released:
        context.log.warning(f"run {run_id}: its process is gone; marked failed and its pool slots freed")
    return SkipReason(
        f"freed the pool slots of {len(released)} dead run(s)" if released else "no dead run holds a slot"
    )
