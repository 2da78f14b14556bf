"""python -m interest_pipeline_tests.benchmarks [--scale small|medium|large] [--out DIR] [--skip-warm]

Generates a sample at the scale, runs ``ingest_job`` and ``interest_model_job`` through
Dagster on a fresh warehouse in the out folder (cold), again on the same data and warehouse
(warm, where the caches help), compares three methods with simple baselines on the same
data, and writes results.json and results.md there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from interest_pipeline_tests.benchmarks import comparisons, report  # noqa: E402
from interest_pipeline_tests.benchmarks.measure import StepProbe  # noqa: E402
from interest_pipeline_tests.benchmarks.pipeline import Workspace, run_pipeline, timed  # noqa: E402
from interest_pipeline_tests.benchmarks.scales import SCALES, spec_as_dict, write_sample  # noqa: E402


def _parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m interest_pipeline_tests.benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--out", type=Path, help="output folder (default: data/benchmarks/<scale>)")
    parser.add_argument("--skip-warm", action="store_true", help="skip the second (warm) run")
    parser.add_argument("--device", default="auto", help="embedding device: auto (GPU when present), cpu, cuda")
    return parser.parse_args(argv)


def _step(run: dict, key: str) -> dict | None:
    return next((s for job in run["jobs"] for s in job["steps"] if s["step_key"] == key), None)


def _first_embedding_step(run: dict) -> str | None:
    """The embedding step that ran first in the process loaded the model (and imported torch)."""
    keys = [s["step_key"] for job in run["jobs"] for s in job["steps"]]
    return next((k for k in keys if k in ("comment_embeddings", "item_embeddings")), None)


def main(argv=None) -> int:
    args = _parse(argv)
    started, load_start = time.perf_counter(), report.load_average()
    scale = SCALES[args.scale]
    out = (args.out or Path("data/benchmarks") / scale.name).resolve()
    out.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(out)

    from dagster import DagsterInstance

    from interest_pipeline.core.embedding import resolve_device
    from interest_pipeline.definitions import build_definitions

    device = resolve_device(args.device)
    print(f"benchmark scale {scale.name} ({scale.target}) in {out}", flush=True)
    done = timed("sample")
    sample = write_sample(scale, workspace.sample)
    done(f"({sample['events']:,} events, {sample['texts']:,} texts)")
    workspace.clear_outputs()
    definitions = build_definitions(workspace.resources(device))

    runs = []
    previous_home = os.environ.get("DAGSTER_HOME")
    with tempfile.TemporaryDirectory(prefix="dagster_home_") as home:
        os.environ["DAGSTER_HOME"] = home
        Path(home, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        with DagsterInstance.from_config(home) as instance, StepProbe(instance) as probe:
            for name in ("cold", "warm")[: 1 if args.skip_warm else 2]:
                done = timed(f"{name} run")
                jobs = run_pipeline(definitions, instance, probe, scale.first_log_date, scale.last_log_date, workspace.tracking_uri)
                runs.append({"name": name, "jobs": [j.as_dict() for j in jobs]})
                done()
    if previous_home is None:
        del os.environ["DAGSTER_HOME"]
    else:
        os.environ["DAGSTER_HOME"] = previous_home

    cold = runs[0]
    results_cmp = {}
    done = timed("a. embedding vs bare encode")
    results_cmp["embedding"] = comparisons.embedding_comparison(workspace.warehouse, _step(cold, "comment_embeddings"), device)
    results_cmp["embedding"]["asset_step_loaded_model"] = _first_embedding_step(cold) == "comment_embeddings"
    done()
    done = timed("b. topic clustering vs BERTopic-style")
    results_cmp["topics"] = comparisons.topic_comparison(workspace.warehouse, workspace.sample / "truth", _step(cold, "interest_topics"))
    done()
    done = timed("c. user segmentation vs K-Means")
    results_cmp["segments"] = comparisons.segment_comparison(workspace.warehouse, workspace.sample / "truth", _step(cold, "user_segments"))
    done()

    results = {
        "scale": scale.name,
        "target": scale.target,
        "spec": spec_as_dict(scale.spec),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "total_seconds": round(time.perf_counter() - started, 1),
        "load_average_start": load_start,
        "load_average_end": report.load_average(),
        "device": device,
        "machine": report.machine(),
        "sample": sample,
        "out": str(out),
        "runs": runs,
        "comparisons": results_cmp,
    }
    print()
    print(report.write(results, out))
    print(f"written: {out / 'results.json'}, {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
