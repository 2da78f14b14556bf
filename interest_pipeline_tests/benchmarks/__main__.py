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
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from interest_pipeline.core.text.precision import PRECISIONS  # noqa: E402
from interest_pipeline_tests.benchmarks import comparisons, report  # noqa: E402
from interest_pipeline_tests.benchmarks.measure import StepProbe  # noqa: E402
from interest_pipeline_tests.benchmarks.pipeline import Workspace, run_pipeline, temporary_instance, timed  # noqa: E402
from interest_pipeline_tests.benchmarks.scales import SCALES, Scale, spec_as_dict, write_sample  # noqa: E402


def _parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m interest_pipeline_tests.benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", choices=list(SCALES), default="small")
    parser.add_argument("--out", type=Path, help="output folder (default: data/benchmarks/<scale>)")
    parser.add_argument("--skip-warm", action="store_true", help="skip the second (warm) run")
    parser.add_argument("--device", default="auto", help="embedding device: auto (GPU when present), cpu, cuda")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="embedding precision (default auto: bf16 where the CPU has bf16 units, or on a GPU)",
    )
    parser.add_argument(
        "--comparison-points",
        type=int,
        default=0,
        help="topic comparison (b) on a seeded sample of this many items + texts, the same for both methods (0: all)",
    )
    parser.add_argument(
        "--bare-encode-texts",
        type=int,
        default=0,
        help="bare encode (a) on a seeded sample of this many distinct texts (0: all)",
    )
    return parser.parse_args(argv)


def _step(run: dict, key: str) -> dict | None:
    return next((s for job in run["jobs"] for s in job["steps"] if s["step_key"] == key), None)


def _first_embedding_step(run: dict) -> str | None:
    """The embedding step that ran first in the process loaded the model (and imported torch)."""
    keys = [s["step_key"] for job in run["jobs"] for s in job["steps"]]
    return next((k for k in keys if k in ("comment_embeddings", "item_embeddings")), None)


def _runs_and_embedding(
    scale: Scale, workspace: Workspace, device: str, warm: bool, bare_encode_texts: int = 0, precision: str = "auto"
) -> tuple[list[dict], dict]:
    """The cold run, the bare encode right after it (similar conditions), then the warm run."""
    from interest_pipeline.definitions import build_definitions

    definitions = build_definitions(workspace.resources(device, precision))
    runs, embedding = [], {}
    with temporary_instance() as instance, StepProbe(instance) as probe:
        for name in ("cold", "warm") if warm else ("cold",):
            done = timed(f"{name} run")
            jobs = run_pipeline(
                definitions, instance, probe, scale.first_log_date, scale.last_log_date, workspace.tracking_uri
            )
            runs.append({"name": name, "jobs": [j.as_dict() for j in jobs]})
            done()
            if name == "cold":
                done = timed("a. embedding vs bare encode")
                embedding = comparisons.embedding_comparison(
                    workspace.warehouse, _step(runs[0], "comment_embeddings"), device, max_texts=bare_encode_texts
                )
                embedding["asset_step_loaded_model"] = _first_embedding_step(runs[0]) == "comment_embeddings"
                done()
    return runs, embedding


def _clustering_comparisons(workspace: Workspace, cold: dict, comparison_points: int = 0) -> dict:
    truth = workspace.sample / "truth"
    done = timed("b. topic clustering vs BERTopic-style")
    topics = comparisons.topic_comparison(workspace.warehouse, truth, _step(cold, "interest_topics"), comparison_points)
    done()
    done = timed("c. user segmentation vs K-Means")
    segments = comparisons.segment_comparison(workspace.warehouse, truth, _step(cold, "user_segments"))
    done()
    return {"topics": topics, "segments": segments}


def main(argv=None) -> int:
    args = _parse(argv)
    started, load_start = time.perf_counter(), report.load_average()
    scale = SCALES[args.scale]
    workspace = Workspace((args.out or Path("data/benchmarks") / scale.name).resolve())
    workspace.out.mkdir(parents=True, exist_ok=True)

    from interest_pipeline.core.text.precision import resolve_device

    device = resolve_device(args.device)
    print(f"benchmark scale {scale.name} ({scale.target}) in {workspace.out}", flush=True)
    done = timed("sample")
    sample = write_sample(scale, workspace.sample)
    done(f"({sample['events']:,} events, {sample['texts']:,} texts)")
    workspace.clear_outputs()

    runs, embedding = _runs_and_embedding(
        scale,
        workspace,
        device,
        warm=not args.skip_warm,
        bare_encode_texts=args.bare_encode_texts,
        precision=args.precision,
    )
    clustering = _clustering_comparisons(workspace, runs[0], args.comparison_points)

    results = {
        "scale": scale.name,
        "target": scale.target,
        "spec": spec_as_dict(scale.spec),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "total_seconds": round(time.perf_counter() - started, 1),
        "load_average_start": load_start,
        "load_average_end": report.load_average(),
        "device": device,
        "embedding_model": workspace.embedding_model(),
        "options": {
            "skip_warm": args.skip_warm,
            "comparison_points": args.comparison_points,
            "bare_encode_texts": args.bare_encode_texts,
        },
        "machine": report.machine(),
        "sample": sample,
        "out": str(workspace.out),
        "runs": runs,
        "comparisons": {"embedding": embedding, **clustering},
    }
    print()
    print(report.write(results, workspace.out))
    print(f"written: {workspace.out / 'results.json'}, {workspace.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
