"""python -m interest_pipeline_tests.benchmarks.daily_update [--scale medium|large] [--out DIR] [--no-compare] [--precision P]

The day-to-day cost of the pipeline. On a sample of the scale (benchmarks/scales.py) it

1. ingests every day but the last and runs ``interest_model_job`` on a fresh warehouse (the
   cold build, timed per step with its peak memory);
2. ingests the last day (one partition), as the daily schedule does;
3. refreshes every asset that follows new data (the eager assets of the automation sensor,
   ``DAILY_ASSETS``) in one run: the daily update, timed per step;
4. unless ``--no-compare``: copies the warehouse, drops those tables in the copy and builds them
   again from scratch (a full recompute of the same day), then compares each table with the
   daily update's, key by key, floats to a tolerance.

With ``--launched in_process|multiprocess`` step 3 is a launched run instead (``execute_job``, as
the UI, schedules and sensors start runs) under the code location's default executor (one process)
or with a process per step; only its wall time and each step's seconds (from the event log) are
measured there, not memory.

With ``--replay-last-day`` it skips 1. on an out folder that a full run left: it takes the last
day out again (its events, and from the embedding cache the texts no other day has), brings the
daily tables back to the day before with one update, and then measures 2.-4. as above; a faster
way to measure a change of the daily path at a large scale.

``--precision`` sets the embedding precision of every run (default ``auto``: bf16 where the CPU has
bf16 units), so float32 and the automatic choice can be compared on one machine.

Results go to ``results.json`` in the out folder (default data/benchmarks/daily_<scale>).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from interest_pipeline.core.text import precision as embedding_precision  # noqa: E402
from interest_pipeline_tests.benchmarks.measure import StepProbe  # noqa: E402
from interest_pipeline_tests.benchmarks.pipeline import Workspace, run_job, temporary_instance  # noqa: E402
from interest_pipeline_tests.benchmarks.scales import SCALES, write_sample  # noqa: E402
from interest_pipeline_tests.table_diff import TABLE_KEYS, diff_tables  # noqa: E402

# The assets whose automation condition follows new data (a test keeps this list true).
DAILY_ASSETS = tuple(TABLE_KEYS)
FLOAT_TOLERANCE = 1e-5


def _definitions(workspace: Workspace, precision: str = "auto"):
    from dagster import AssetSelection, Definitions, define_asset_job

    from interest_pipeline.definitions import build_definitions

    defs = build_definitions(workspace.resources("cpu", precision))
    daily = define_asset_job("daily_update_benchmark", selection=AssetSelection.assets(*DAILY_ASSETS))
    return Definitions.merge(defs, Definitions(jobs=[daily]))


def _summary(job) -> dict:
    return {
        "wall_s": round(job.usage.wall_s, 1),
        "peak_rss_mb": round(job.usage.peak_rss_mb),
        "others_cores": round(job.usage.others_cores, 2),
        "steps": {s.step_key: round(s.usage.wall_s, 1) for s in job.steps},
        "step_peak_rss_mb": {s.step_key: round(s.usage.peak_rss_mb) for s in job.steps},
        "metadata": {s.step_key: s.metadata for s in job.steps},
    }


def _print_job(name: str, summary: dict) -> None:
    print(
        f"{name}: {summary['wall_s']:.1f} s, peak RSS {summary['peak_rss_mb']:,d} MB, other load {summary['others_cores']:.2f} cores",
        flush=True,
    )
    for step, seconds in sorted(summary["steps"].items(), key=lambda kv: -kv[1]):
        print(f"    {step:32s} {seconds:8.1f} s", flush=True)


_OUT_ENV = "INTEREST_PIPELINE_BENCHMARK_OUT"
_PRECISION_ENV = "INTEREST_PIPELINE_BENCHMARK_PRECISION"


def launched_daily_job():
    """The benchmark's daily job for ``execute_job``: each step process rebuilds it from the out folder."""
    return _definitions(Workspace(Path(os.environ[_OUT_ENV])), os.environ.get(_PRECISION_ENV, "auto")).resolve_job_def(
        "daily_update_benchmark"
    )


def launched_daily_update(workspace: Workspace, executor: str, precision: str = "auto") -> dict:
    """The daily update as a launched run, ``executor`` "in_process" (the code location's default)
    or "multiprocess" (a process per step): wall time and each step's seconds from the event log."""
    from dagster import DagsterEventType, execute_job, reconstructable

    from interest_pipeline_tests.benchmarks.pipeline import QUIET_CONSOLE

    os.environ[_OUT_ENV] = str(workspace.out.resolve())
    os.environ[_PRECISION_ENV] = precision
    run_config = {
        **QUIET_CONSOLE,
        **({"execution": {"config": {"multiprocess": {}}}} if executor == "multiprocess" else {}),
    }
    with temporary_instance() as instance:
        started = time.perf_counter()
        with execute_job(reconstructable(launched_daily_job), instance=instance, run_config=run_config) as result:
            wall = time.perf_counter() - started
            if not result.success:
                raise RuntimeError(f"the launched daily update failed ({executor}); see the Dagster run logs")
            records = instance.all_logs(result.run_id)
    began, ended, pids = {}, {}, set()
    for record in records:
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            began[event.step_key] = record.timestamp
            pids.add(event.pid)
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            ended[event.step_key] = record.timestamp
    return {
        "executor": executor,
        "wall_s": round(wall, 1),
        "step_processes": len(pids),
        "steps": {key: round(ended[key] - began[key], 1) for key in sorted(began, key=began.get) if key in ended},
        "first_start_to_last_end_s": round(max(ended.values()) - min(began.values()), 1) if began else 0.0,
    }


def full_recompute(workspace: Workspace, copy: Path, precision: str = "auto") -> tuple[dict, Path]:
    """The daily assets built from scratch on a copy of the warehouse (their tables dropped)."""
    import duckdb

    copy.mkdir(parents=True, exist_ok=True)
    target = Workspace(copy)
    shutil.copy(workspace.warehouse, target.warehouse)
    (target.out / "sample").unlink(missing_ok=True)
    (target.out / "sample").symlink_to(workspace.sample.resolve())
    shutil.copy(workspace.out / "mlflow.db", target.out / "mlflow.db")
    shutil.rmtree(target.out / "mlflow-artifacts", ignore_errors=True)
    shutil.copytree(workspace.out / "mlflow-artifacts", target.out / "mlflow-artifacts")
    with duckdb.connect(str(target.warehouse)) as conn:
        for table in DAILY_ASSETS:
            conn.execute(f'DROP TABLE IF EXISTS "{table}"')
        if conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'asset_parameters'"
        ).fetchone()[0]:
            conn.execute("DELETE FROM asset_parameters WHERE table_name IN (SELECT UNNEST(?))", [list(DAILY_ASSETS)])
    definitions = _definitions(target, precision)
    with temporary_instance() as instance, StepProbe(instance) as probe:
        job = run_job(definitions, instance, probe, "daily_update_benchmark", {}, target.tracking_uri)
    return _summary(job), target.warehouse


def take_out_day(warehouse: Path, day: str) -> dict:
    """Remove ``day``'s events and the cached embeddings of texts that only that day has."""
    import duckdb

    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("BEGIN TRANSACTION")
        only_that_day = (
            "SELECT c.text_hash FROM comment_embeddings c JOIN raw_behavior_logs e ON e.event_id = c.comment_id WHERE e.log_date = ?::DATE "
            "EXCEPT SELECT c.text_hash FROM comment_embeddings c JOIN raw_behavior_logs e ON e.event_id = c.comment_id WHERE e.log_date <> ?::DATE"
        )
        texts = conn.execute(
            f"DELETE FROM embedding_cache WHERE text_hash IN ({only_that_day})", [day, day]
        ).fetchone()[0]
        events = conn.execute("DELETE FROM raw_behavior_logs WHERE log_date = ?::DATE", [day]).fetchone()[0]
        conn.execute("DELETE FROM rejected_events WHERE log_date = ?::DATE", [day])
        conn.execute("COMMIT")
    return {"events_taken_out": events, "cached_texts_taken_out": texts}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=list(SCALES), default="medium")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--no-compare", action="store_true", help="skip the full recompute and the table comparison")
    parser.add_argument(
        "--replay-last-day", action="store_true", help="reuse the out folder of an earlier full run (see above)"
    )
    parser.add_argument(
        "--launched", choices=["in_process", "multiprocess"], help="run the daily update as a launched run (see above)"
    )
    parser.add_argument(
        "--precision",
        choices=embedding_precision.PRECISIONS,
        default="auto",
        help="embedding precision (default auto: bf16 where the CPU has bf16 units)",
    )
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]
    workspace = Workspace(args.out or Path("data/benchmarks") / f"daily_{scale.name}")
    last = scale.last_log_date
    day_before = (dt.date.fromisoformat(last) - dt.timedelta(days=1)).isoformat()
    definitions = _definitions(workspace, args.precision)
    results: dict = {"scale": scale.name, "precision_setting": args.precision}

    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    if args.replay_last_day:
        results["taken_out"] = take_out_day(workspace.warehouse, last)
        shutil.rmtree(workspace.out / "full_recompute", ignore_errors=True)
        with temporary_instance() as instance, StepProbe(instance) as probe:
            back = _summary(run_job(definitions, instance, probe, "daily_update_benchmark", {}, workspace.tracking_uri))
        print(
            f"{last} taken out again ({results['taken_out']}); daily tables back to {day_before} in {back['wall_s']:.1f} s",
            flush=True,
        )
    else:
        workspace.out.mkdir(parents=True, exist_ok=True)
        workspace.clear_outputs()
        shutil.rmtree(workspace.sample, ignore_errors=True)
        sample = write_sample(scale, workspace.sample)
        results["sample"] = {k: v for k, v in sample.items() if isinstance(v, int | float | str)}
        print(
            f"{args.scale}: {sample['events']:,d} events, {sample['texts']:,d} texts; cold build on {scale.first_log_date} .. {day_before}, then {last}",
            flush=True,
        )
    with temporary_instance() as instance, StepProbe(instance) as probe:
        if not args.replay_last_day:
            started = time.perf_counter()
            run_job(
                definitions,
                instance,
                probe,
                "ingest_job",
                {ASSET_PARTITION_RANGE_START_TAG: scale.first_log_date, ASSET_PARTITION_RANGE_END_TAG: day_before},
                workspace.tracking_uri,
            )
            print(
                f"ingest of {scale.first_log_date} .. {day_before}: {time.perf_counter() - started:.1f} s", flush=True
            )
            results["cold"] = _summary(
                run_job(definitions, instance, probe, "interest_model_job", {}, workspace.tracking_uri)
            )
            _print_job("cold interest_model_job", results["cold"])
        results["ingest_new_day"] = _summary(
            run_job(definitions, instance, probe, "ingest_job", {"dagster/partition": last}, workspace.tracking_uri)
        )
        _print_job(f"ingest of {last}", results["ingest_new_day"])
        if workspace.warehouse.exists() and "cold" in results:
            results["embedding_model"] = workspace.embedding_model()
            print(f"embedding model: {results['embedding_model']} (precision setting {args.precision})", flush=True)
        if args.launched:
            results["daily_update"] = launched_daily_update(workspace, args.launched, args.precision)
            print(
                f"daily update (every eager asset), launched, {args.launched}: {results['daily_update']['wall_s']:.1f} s "
                f"in {results['daily_update']['step_processes']} step process(es)",
                flush=True,
            )
        else:
            results["daily_update"] = _summary(
                run_job(definitions, instance, probe, "daily_update_benchmark", {}, workspace.tracking_uri)
            )
            _print_job("daily update (every eager asset)", results["daily_update"])
    if not args.no_compare:
        import duckdb

        results["full_recompute"], copy = full_recompute(workspace, workspace.out / "full_recompute", args.precision)
        _print_job("full recompute of the same assets", results["full_recompute"])
        with (
            duckdb.connect(str(workspace.warehouse), read_only=True) as daily,
            duckdb.connect(str(copy), read_only=True) as full,
        ):
            diffs = [diff_tables(daily, full, table) for table in DAILY_ASSETS]
        results["comparison"] = [d.as_dict() for d in diffs]
        for d in diffs:
            verdict = "same" if d.same(FLOAT_TOLERANCE) else "DIFFERENT"
            print(
                f"    {d.table:32s} {d.rows[0]:>10,d} rows  max float diff {d.max_float_difference:.2e}  {verdict} {d.unequal_columns or ''}",
                flush=True,
            )
    name = "results_replay.json" if args.replay_last_day else "results.json"
    (workspace.out / name).write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {workspace.out / name}")


if __name__ == "__main__":
    main()
