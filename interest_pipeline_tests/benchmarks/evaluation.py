"""python -m interest_pipeline_tests.benchmarks.evaluation [--sample bundled|sparse] [--out DIR] [--seeds N]
    [--warehouse FILE] [--protocols per_user,leave_last_one,global_cutoff]

Builds the warehouse of a sample once (``ingest_job`` and ``interest_model_job`` through
Dagster; reused when the folder already holds one), or reads the one ``--warehouse`` names (for
example what the main command built from an imported data set), then scores the split protocols of
the hold-out evaluation on it with the core functions, over evaluation seeds, and prints one
table per protocol: per method nDCG@10, recall@20, interest coverage@20, diversity@20, AUC, MRR,
the paired difference to popularity with its bootstrap 95% interval, and the users scored with and
without history; then the shipped ranker's settings and its paired nDCG@10 and coverage@20
differences to every baseline, and nDCG@10 / coverage@20 by user activity.

Samples: ``bundled`` is the default sample (2,000 users, 30 days); ``sparse`` has real-data
traits: 1,500 users with few events each spread over 270 days, long-tailed popularity.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from interest_pipeline.sample_data import SampleSpec  # noqa: E402

SAMPLES: dict[str, SampleSpec] = {
    "bundled": SampleSpec(),
    # Ends before the default partitions' end (today); the partitions start with it.
    "sparse": SampleSpec(
        n_users=1500, n_items=800, n_days=270, start_date=dt.date(2026, 3, 1), mean_events_per_user=8, seed=5
    ),
}


def build_warehouse(spec: SampleSpec, out: Path) -> Path:
    """The sample's warehouse in ``out`` (built once: an existing one is reused)."""
    from interest_pipeline_tests.benchmarks.pipeline import Workspace

    workspace = Workspace(out)
    if workspace.warehouse.exists() and (out / "built").exists():
        return workspace.warehouse
    os.environ["INTEREST_PIPELINE_START_DATE"] = spec.start_date.isoformat()
    from interest_pipeline.definitions import build_definitions
    from interest_pipeline.sample_data import generate_sample
    from interest_pipeline_tests.benchmarks.measure import StepProbe
    from interest_pipeline_tests.benchmarks.pipeline import run_pipeline, temporary_instance

    out.mkdir(parents=True, exist_ok=True)
    workspace.clear_outputs()
    generate_sample(workspace.sample, spec)
    last = spec.start_date + dt.timedelta(days=spec.n_days - 1)
    definitions = build_definitions(workspace.resources("cpu"))
    with temporary_instance() as instance, StepProbe(instance) as probe:
        run_pipeline(
            definitions, instance, probe, spec.start_date.isoformat(), last.isoformat(), workspace.tracking_uri
        )
    (out / "built").write_text("ok\n")
    return workspace.warehouse


PROTOCOL_SETTINGS: dict[str, dict] = {
    "per_user (last 20%)": {"protocol": "per_user", "test_fraction": 0.2},
    "leave_last_one": {"protocol": "leave_last_one"},
    "global_cutoff (80%)": {"protocol": "global_cutoff", "cutoff_fraction": 0.8},
}
TABLE_METRICS = ("ndcg@10", "recall@20", "coverage@20", "diversity@20", "auc", "mrr")


def read_holdout_data(warehouse: Path):
    """The evaluation's inputs as the asset reads them, and the feature parameters."""
    import duckdb

    from interest_pipeline.core.evaluation.holdout_evaluation import HoldoutData
    from interest_pipeline.core.evaluation.scoring_methods import Taxonomy
    from interest_pipeline.defs.shared import read_feature_params, read_user_history
    from interest_pipeline.defs.warehouse import read_frame

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        history = read_user_history(conn)
        topics = read_frame(conn, "SELECT content_id, content_kind, topic_id, subtopic_id FROM interest_topics")
        hierarchy = read_frame(
            conn, "SELECT node_id, level, parent_id, label, centroid FROM interest_hierarchy ORDER BY node_id"
        )
        features = read_feature_params(conn)
    return HoldoutData(history.events, history.texts, history.items, Taxonomy(topics, hierarchy)), features


def evaluate_protocols(data, features, seeds: list[int], protocols: list[str] | None = None) -> dict[str, list]:
    """Per protocol, one HoldoutResult per seed (seed of the user sample, K-Means, random and the bootstrap)."""
    from interest_pipeline.core.evaluation.holdout_evaluation import evaluate_holdout
    from interest_pipeline.core.evaluation.scoring_methods import EvaluationParams
    from interest_pipeline.core.expansion.interest_expansion import ExpansionParams

    results = {}
    for name, settings in PROTOCOL_SETTINGS.items():
        if protocols and settings["protocol"] not in protocols:
            continue
        results[name] = [
            evaluate_holdout(data, EvaluationParams(seed=seed, **settings), ExpansionParams(), features)
            for seed in seeds
        ]
        print(f"  {name}: done", flush=True)
    return results


def _mean_sd(values: list[float]) -> str:
    import numpy as np

    values = [v for v in values if v == v]
    if not values:
        return "n/a"
    return f"{np.mean(values):.4f}" + (f" ± {np.std(values):.4f}" if len(values) > 1 else "")


def markdown_report(results: dict[str, list]) -> str:
    """One table per protocol (means ± sd over seeds), then next interest, tuning and expansion."""
    from interest_pipeline.core.evaluation.holdout_evaluation import BASELINES, METHODS, NEXT_INTEREST_METHODS, SHIPPED

    lines = []
    for name, runs in results.items():
        first = runs[0]
        lines += [
            f"### {name}",
            "",
            f"users scored with history {first.n_users['with_history']}, cold start {first.n_users['cold_start']} "
            f"({len(runs)} seed(s); ± is the spread over seeds). Tuned blend: popularity weight "
            + ", ".join(f"{r.tuning.best.popularity_weight:g}" for r in runs)
            + f"; long half-life {first.tuning.best.long_half_life_days:g} d, event half-life {first.tuning.best.event_half_life:g} "
            f"(validation nDCG@10 {first.tuning.best_score:.4f} on {first.tuning.n_validation_users} users).",
            "",
            "| method | "
            + " | ".join(TABLE_METRICS)
            + " | nDCG@10 − popularity [95% CI] (seed 1) | cold-start nDCG@10 |",
            "| --- | " + " | ".join("---" for _ in TABLE_METRICS) + " | --- | --- |",
        ]
        for m in METHODS:
            cells = [_mean_sd([r.rankings["with_history"][m][k] for r in runs]) for k in TABLE_METRICS]
            p = first.paired_to("popularity", m)
            ci = f"{p.mean:+.4f} [{p.low:+.4f}, {p.high:+.4f}]" if p else "—"
            cold = _mean_sd([r.rankings["cold_start"][m]["ndcg@10"] for r in runs])
            lines.append(f"| {m} | " + " | ".join(cells) + f" | {ci} | {cold} |")
        shipped = [first.paired_to(b) for b in BASELINES if b != "popularity"]
        layered = first.extra
        lines += [
            "",
            f"{SHIPPED}: {layered['layered_model']} ({layered['layered_model_setting']:g}, recency half-life "
            f"{layered['layered_recency_half_life']:g}), layer weight {layered['layered_layer_weight']:g}, interest boost "
            f"{layered['layered_interest_boost']:g}, subtopic decay {layered['layered_subtopic_decay']:g} (chosen on validation); vs each baseline (nDCG@10, seed 1): "
            + "; ".join(f"{p.baseline} {p.mean:+.4f} [{p.low:+.4f}, {p.high:+.4f}]" for p in shipped if p),
            "",
            "coverage@20 vs each baseline (seed 1): "
            + "; ".join(
                f"{p.baseline} {p.mean:+.4f} [{p.low:+.4f}, {p.high:+.4f}]"
                for p in (first.paired_to(b, metric="coverage@20") for b in BASELINES)
                if p
            ),
            "",
            "by activity (nDCG@10 / coverage@20, seed 1; "
            + ", ".join(f"{a} {n} users" for a, n in first.n_activity_users.items())
            + f", training-event thresholds {first.activity_thresholds[0]:g} / {first.activity_thresholds[1]:g}): "
            + "; ".join(
                f"{m} "
                + " ".join(
                    f"{first.activity[a][m]['ndcg@10']:.4f}/{first.activity[a][m]['coverage@20']:.3f}"
                    for a in first.activity
                )
                for m in METHODS
            ),
        ]
        lines += [
            "",
            "next-interest Hit@1 (users with history; event half-life "
            f"{first.next_interest_half_life:g}, {first.next_interest_weighting} weights, chosen on validation): "
            + "; ".join(
                f"{level} ({n} users): "
                + ", ".join(
                    f"{NEXT_INTEREST_METHODS[k]} {_mean_sd([r.next_interest[level][0][k] for r in runs])}" for k in hits
                )
                for level, (hits, n) in first.next_interest.items()
            ),
        ]
        lines += [
            "",
            "expansion precision: "
            + ", ".join(f"{m} {_mean_sd([r.expansion[m][0] for r in runs])}" for m in first.expansion)
            + f"; take-up model: {first.takeup['reason']}",
            "",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", choices=list(SAMPLES), default="bundled")
    parser.add_argument(
        "--out", type=Path, help="folder of the sample and its warehouse (default: data/benchmarks/evaluation-<sample>)"
    )
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--seeds", type=int, default=3, help="evaluation seeds (1, 2, ...)")
    parser.add_argument(
        "--warehouse", type=Path, help="evaluate this warehouse (built by the main command) instead of a sample's"
    )
    parser.add_argument(
        "--protocols",
        default=",".join(s["protocol"] for s in PROTOCOL_SETTINGS.values()),
        help="comma-separated split protocols to score",
    )
    args = parser.parse_args(argv)
    if args.warehouse is not None and not args.warehouse.is_file():
        parser.error(f"--warehouse {args.warehouse}: no such file")
    out = args.out or (
        args.warehouse.parent if args.warehouse else Path("data/benchmarks") / f"evaluation-{args.sample}"
    )
    warehouse = args.warehouse or build_warehouse(SAMPLES[args.sample], out)
    print(f"warehouse {warehouse}", flush=True)
    if args.build_only:
        return 0
    data, features = read_holdout_data(warehouse)
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    report = markdown_report(evaluate_protocols(data, features, list(range(1, args.seeds + 1)), protocols))
    (out / "evaluation.md").write_text(report + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
