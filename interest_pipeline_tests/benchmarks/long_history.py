"""Ingest of a long, sparse history in one run through Dagster: ~100k events over ~8,000 days.

    python -m interest_pipeline_tests.benchmarks.long_history [--grains month,week,day] [--days N] [--out DIR]

Generates a rating log shaped like a 22-year public movie-rating log (about 104,500 events on
about 4,100 of 8,215 days, most users rating in one burst, a few reviews with text), one CSV per
log date named like the sample's (``events_YYYY-MM-DD.csv``), then, for each partition grain, runs
``ingest_job`` over the whole range in one run on a fresh warehouse and Dagster instance (in a
child process, since the grain is read when the code location loads). Prints one line per grain:
events, days, partitions, ingest seconds (the run, as the main command starts it) and rows/s.
Dagster stores a few events per partition and asset, so finer grains cost more outside the step:
``--days N`` ingests only the first N days, to compare grains (and code versions) on a slice.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FIRST_DAY = dt.date(1996, 3, 29)
N_DAYS = 8_215
N_EVENTS = 104_519
N_ACTIVE_DAYS = 4_114
N_USERS = 610
N_ITEMS = 9_700
REVIEW_SHARE = 0.035
HEADER = "event_id,user_id,item_id,event_type,timestamp,rating,text\n"


def write_long_history(folder: Path, seed: int = 7) -> dict:
    """One CSV per active log date under ``folder / 'events'`` and an items.csv; returns the shape."""
    rng = np.random.default_rng(seed)
    events_dir = folder / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    active = np.sort(rng.choice(N_DAYS, size=N_ACTIVE_DAYS, replace=False))
    # Bursty days: a few days hold many events (a user rating a hundred films at once).
    weights = rng.pareto(1.2, size=N_ACTIVE_DAYS) + 1.0
    per_day = np.maximum(1, np.round(weights / weights.sum() * N_EVENTS)).astype(int)
    per_day[np.argmax(per_day)] += N_EVENTS - per_day.sum()
    item_popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.9
    item_popularity /= item_popularity.sum()
    event_number = 0
    for day_index, n in zip(active, per_day):
        day = FIRST_DAY + dt.timedelta(days=int(day_index))
        users = rng.integers(0, N_USERS, size=max(1, n // 40 + 1))
        seconds = np.sort(rng.integers(0, 86_400, size=n))
        items = rng.choice(N_ITEMS, size=n, p=item_popularity)
        lines = [HEADER]
        for k in range(n):
            event_number += 1
            when = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=int(seconds[k]))
            user, item = f"ml:u{users[k % len(users)]}", f"ml:m{items[k]}"
            if rng.random() < REVIEW_SHARE:
                lines.append(
                    f"e{event_number},{user},{item},review,{when:%Y-%m-%dT%H:%M:%SZ},,a quiet film with a fine cast\n"
                )
            else:
                lines.append(f"e{event_number},{user},{item},rate,{when:%Y-%m-%dT%H:%M:%SZ},{rng.integers(1, 6)},\n")
        (events_dir / f"events_{day.isoformat()}.csv").write_text("".join(lines))
    with (folder / "items.csv").open("w") as handle:
        handle.write("item_id,title,description\n")
        handle.writelines(f"ml:m{i},Film {i},Genres: Drama\n" for i in range(N_ITEMS))
    last = FIRST_DAY + dt.timedelta(days=int(active[-1]))
    return {
        "events": event_number,
        "days_with_files": N_ACTIVE_DAYS,
        "first": FIRST_DAY.isoformat(),
        "last": last.isoformat(),
        "span_days": (last - FIRST_DAY).days + 1,
    }


def ingest_once(sample: Path, out: Path, first: str, last: str) -> dict:
    """One ``ingest_job`` run over ``first..last`` on a fresh warehouse and on-disk instance."""
    from dagster import DagsterInstance
    from dagster_duckdb import DuckDBResource

    from interest_pipeline.definitions import build_definitions, build_resources
    from interest_pipeline.defs.ingest.partitions import log_partitions, partition_keys_between
    from interest_pipeline.defs.resources import EventSource
    from interest_pipeline_tests.helpers import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

    resources = {
        **build_resources(),
        "warehouse": DuckDBResource(database=str(out / "warehouse.duckdb")),
        "event_source": EventSource(
            events_dir=str(sample / "events"), items_path=str(sample / "items.csv"), landing_dir=str(out / "landing")
        ),
    }
    definitions = build_definitions(resources)
    keys = partition_keys_between(log_partitions, dt.date.fromisoformat(first), dt.date.fromisoformat(last))
    home = out / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(home)) as instance:
        started = time.perf_counter()
        result = definitions.resolve_job_def("ingest_job").execute_in_process(
            instance=instance,
            tags={PARTITION_RANGE_START_TAG: keys[0], PARTITION_RANGE_END_TAG: keys[-1]},
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        seconds = time.perf_counter() - started
    metadata = next(m.metadata for m in result.asset_materializations_for_node("raw_behavior_logs"))
    return {
        "success": result.success,
        "partitions": len(keys),
        "seconds": round(seconds, 1),
        "rows_accepted": metadata["run_rows_accepted"].value,
        "step_seconds": metadata["run_seconds"].value,
    }


def _last_day(shape: dict, days: int | None) -> str:
    if not days:
        return shape["last"]
    return min(shape["last"], (dt.date.fromisoformat(shape["first"]) + dt.timedelta(days=days - 1)).isoformat())


def _child(args: argparse.Namespace) -> None:
    shape = json.loads((args.out / "shape.json").read_text())
    run_dir = Path(tempfile.mkdtemp(prefix=f"ingest-{args.grain}-", dir=args.out))
    print(json.dumps(ingest_once(args.out / "sample", run_dir, shape["first"], _last_day(shape, args.days))))


def main(argv: list[str] | None = None) -> int:
    """Prints one line per grain; returns 1 if a grain's run failed, else 0."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--grains",
        default="month",
        help="partition grains to time, comma-separated (day takes many minutes over the whole history)",
    )
    parser.add_argument("--days", type=int, help="ingest only the first DAYS days of the history")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/long_history"))
    parser.add_argument("--grain", help=argparse.SUPPRESS)  # set in the child process
    args = parser.parse_args(argv)
    if args.grain:
        _child(args)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    shape_file = args.out / "shape.json"
    if not shape_file.exists():
        print(f"writing the long history under {args.out / 'sample'} ...", flush=True)
        shape_file.write_text(json.dumps(write_long_history(args.out / "sample")))
    shape = json.loads(shape_file.read_text())
    print(
        f"{shape['events']:,d} events on {shape['days_with_files']:,d} days with files, {shape['first']} .. {shape['last']} "
        f"({shape['span_days']:,d} days); ingesting {shape['first']} .. {_last_day(shape, args.days)}"
    )
    print(f"{'grain':6s} {'partitions':>10s} {'run s':>7s} {'step s':>7s} {'rows/s':>8s} {'accepted':>9s}")
    failed = False
    for grain in args.grains.split(","):
        env = {
            **os.environ,
            "INTEREST_PIPELINE_PARTITION_GRAIN": grain,
            "INTEREST_PIPELINE_START_DATE": shape["first"],
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        child = subprocess.run(
            [
                sys.executable,
                "-m",
                "interest_pipeline_tests.benchmarks.long_history",
                "--out",
                str(args.out),
                "--grain",
                grain,
            ]
            + (["--days", str(args.days)] if args.days else []),
            env=env,
            capture_output=True,
            text=True,
        )
        if child.returncode:
            print(f"{grain:6s} failed:\n{child.stderr[-3000:]}")
            failed = True
            continue
        result = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"{grain:6s} {result['partitions']:>10,d} {result['seconds']:>7.1f} {result['step_seconds']:>7.1f} "
            f"{result['rows_accepted'] / result['seconds']:>8,.0f} {result['rows_accepted']:>9,d}",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
