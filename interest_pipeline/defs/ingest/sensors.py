"""Sensor: new event files in the landing folder trigger ingestion of their log dates."""

import json
from collections import defaultdict
from pathlib import Path

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from interest_pipeline.core.ingest.landing import scan_landing_folder
from interest_pipeline.defs.ingest.jobs import ingest_job
from interest_pipeline.defs.ingest.partitions import log_partitions, partition_key_of
from interest_pipeline.defs.resources import EventSource


@sensor(
    job=ingest_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Watches the landing folder for new or rewritten event files and requests one ingest run per "
    "partition they cover. The cursor records every file handed out (name, mtime, size, change time, inode), so a file is never processed "
    "twice, and a file landing during a run is picked up by the next tick. With weekly or monthly partitions, the run "
    "ingests the whole week or month that holds the file's log date.",
)
def landing_folder_sensor(context: SensorEvaluationContext, event_source: EventSource):
    seen = json.loads(context.cursor) if context.cursor else {}
    new_files, ignored, record = scan_landing_folder(Path(event_source.landing_dir), seen)
    for name in ignored:
        context.log.warning(f"{name}: no YYYY-MM-DD log date in the file name; not ingested")
    valid_keys = set(log_partitions.get_partition_keys(dynamic_partitions_store=None))
    by_key = defaultdict(list)
    for landed in new_files:
        key = partition_key_of(log_partitions, landed.log_date)
        if key in valid_keys:
            by_key[key].append(landed)
        else:
            context.log.warning(
                f"{landed.name}: log date {landed.log_date} is outside the partitions ({log_partitions.start:%Y-%m-%d} to the last closed day)"
            )
    context.update_cursor(json.dumps(record, sort_keys=True))
    if not by_key:
        return SkipReason(f"no new event files in {event_source.landing_dir}")
    return [
        RunRequest(
            # Every run key is unique to the exact file versions, so a rewritten file runs again.
            run_key=f"{key}|" + "|".join(f"{f.name}@{f.identity}" for f in files),
            partition_key=key,
            tags={"landing_files": ",".join(f.name for f in files)[:200]},
        )
        for key, files in sorted(by_key.items())
    ]
