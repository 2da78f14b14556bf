"""Command line: build the whole interest model on the embedded defaults in one go.

    python -m interest_pipeline run        # sample data (generated on first use) -> warehouse
    python -m interest_pipeline summary    # row counts of every table and the MLflow runs

Runs go through the Dagster instance in $DAGSTER_HOME (default data/dagster_home), so
they appear in the Dagster web UI afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

DAGSTER_YAML = Path(__file__).parent / "deploy" / "local" / "dagster.yaml"


def prepare_dagster_home() -> Path:
    """The instance folder with its dagster.yaml, its storage created once under a lock (runs
    started at the same moment race on a fresh SQLite schema), and no slot held by a dead run."""
    from interest_pipeline.defs.instance_setup import prepare_instance

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path("data/dagster_home").resolve())))
    prepare_instance(home, DAGSTER_YAML.read_text())
    return home


def _dated_event_files(events_dir: Path, required: bool = True) -> list[tuple[dt.date, str]]:
    """(log date, name) of the event files that can be ingested now, in date order; none found
    stops the command when ``required`` (no range was given)."""
    from interest_pipeline.core.ingest.event_files import log_date_of
    from interest_pipeline.defs.ingest.partitions import last_log_date, log_partitions

    dated = sorted(
        (d, p.name) for p in (events_dir.iterdir() if events_dir.is_dir() else []) if (d := log_date_of(p)) is not None
    )
    # A file dated after the last closed day waits (a date far ahead is a wrong name): planning up to
    # it would ask Dagster for thousands of partitions that do not exist yet.
    last_date = last_log_date(log_partitions)
    later = [(d, name) for d, name in dated if d > last_date]
    for day, name in later[:5]:
        print(
            f"{events_dir / name}: not ingested: log date {day} is after {last_date}, the last that can be ingested now"
        )
    if len(later) > 5:
        print(f"... and {len(later) - 5:,d} more files dated after {last_date}")
    dated = [(d, name) for d, name in dated if d <= last_date]
    if not dated and required:
        raise SystemExit(f"no event files named with a date (e.g. events_2026-10-01.csv) in {events_dir}")
    return dated


def _check_settings_before_ingest(events_dir: Path, dated: list[tuple[dt.date, str]], first: str, last: str) -> None:
    """Stop before the ingest run, naming every setting to add, when the history needs one: a start
    date before the first partition, or (grain not chosen) more daily partitions than the limit.

    The grain is not switched for this run alone: partitions are built from the environment when
    the code location loads, and the web UI, schedules and sensors load it from the user's
    environment, so runs recorded at another grain would not match the partitions they show.
    """
    from interest_pipeline.core.ingest.partition_grain import recommend_grain
    from interest_pipeline.defs.ingest.partitions import (
        GRAIN_VARIABLE,
        START_DATE_VARIABLE,
        daily_log_partitions,
        grain_to_set,
    )

    first_date, last_date = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    advice = recommend_grain([first_date, last_date, *(d for d, _ in dated if first_date <= d <= last_date)])
    settings, reasons = {}, []
    first_partition = daily_log_partitions.start.date()
    if first_date < first_partition:
        before = next((name for d, name in dated if d == first_date), None)
        where = f"{events_dir / before}: log date" if before else "the first log date"
        reasons.append(f"{where} {first_date} is before the first partition {first_partition}")
        settings[START_DATE_VARIABLE] = first_date.isoformat()
    grain = grain_to_set(os.environ, advice)
    if grain:
        reasons.append(
            f"{events_dir}: {advice.reason()}; ingest time grows with the partitions "
            "(measured: 22 years took about 600 s as days, 30 s as months)"
        )
        settings[GRAIN_VARIABLE] = grain
    if settings:
        lines = "".join(f"\n  export {name}={value}" for name, value in settings.items())
        keep_days = f"\n({GRAIN_VARIABLE}=day keeps daily partitions.)" if grain else ""
        raise SystemExit("\n".join(reasons) + f"\nNothing was ingested. Set and run again:{lines}{keep_days}")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    prepare_dagster_home()
    from interest_pipeline.definitions import DEFAULTS, setting_value

    events_dir = Path(setting_value("INTEREST_PIPELINE_EVENTS_DIR"))
    if not events_dir.exists() and events_dir == Path(DEFAULTS["INTEREST_PIPELINE_EVENTS_DIR"]):
        from interest_pipeline.sample_data import generate_sample

        print(f"generating the sample data under {events_dir.parent} ...", flush=True)
        generate_sample(events_dir.parent)

    from dagster import DagsterInstance
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from interest_pipeline.definitions import defs
    from interest_pipeline.defs.recorded_runs import execute_recorded

    dated = _dated_event_files(events_dir, required=not (args.start and args.end))
    first, last = args.start or dated[0][0].isoformat(), args.end or dated[-1][0].isoformat()
    _check_settings_before_ingest(events_dir, dated, first, last)
    instance = DagsterInstance.get()
    started = time.perf_counter()
    from interest_pipeline.core.ingest.partition_grain import ADJECTIVES
    from interest_pipeline.defs.ingest.partitions import PARTITION_GRAIN, log_partitions, partition_keys_between

    keys = partition_keys_between(log_partitions, dt.date.fromisoformat(first), dt.date.fromisoformat(last))
    print(
        f"ingesting log dates {first} .. {last} ({len(keys):,d} {ADJECTIVES[PARTITION_GRAIN]} partitions, one run) ...",
        flush=True,
    )
    ingest_ok = execute_recorded(
        defs.resolve_job_def("ingest_job"),
        instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
    )
    if not ingest_ok:
        print("ingest_job failed; see the run in the Dagster UI", file=sys.stderr)
        return 1
    print(f"ingest done in {time.perf_counter() - started:.0f} s; building the interest model ...", flush=True)
    if not execute_recorded(defs.resolve_job_def("interest_model_job"), instance):
        print("interest_model_job failed; see the run in the Dagster UI", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - started:.0f} s\n")
    return summary(args)


def print_embedding_model(conn) -> None:
    """Which model embedded the texts, and why (as recorded beside the embeddings)."""
    from interest_pipeline.defs.warehouse import read_parameters

    try:
        built_with = read_parameters(conn, "comment_embeddings")
    except LookupError:
        return
    print(f"\nembedding model {built_with['model']}\n  {built_with.get('model_reason', '')}")


def summary(args: argparse.Namespace) -> int:
    from interest_pipeline.definitions import setting_value
    from interest_pipeline.defs.warehouse import connect_with_retry

    warehouse = setting_value("INTEREST_PIPELINE_WAREHOUSE")
    tracking = setting_value("MLFLOW_TRACKING_URI")
    with connect_with_retry(warehouse, read_only=True) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT table_name FROM information_schema.tables ORDER BY table_name").fetchall()
        ]
        print(f"warehouse {warehouse}:")
        for table in tables:
            count = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            print(f"  {table:28s} {count:>9,d} rows")
        if "comment_embeddings" in tables:
            print_embedding_model(conn)
        if "interest_evaluation" in tables:
            print_evaluation(conn)
        if "item_recommendations" in tables:
            print_recommendations(conn)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking)
    print(f"\nMLflow store {tracking}:")
    for name in ("interest_topics", "user_segments"):
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            continue
        runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
        if runs:
            m = runs[0].data.metrics
            print(
                f"  {name:16s} run {runs[0].info.run_id}: silhouette {m.get('silhouette', float('nan')):.3f}, "
                f"DBCV {m.get('dbcv_relative_validity', float('nan')):.3f}, clusters {m.get('n_fine_clusters', 0):.0f} fine / "
                f"{m.get('n_coarse_clusters', 0):.0f} coarse, noise {m.get('noise_fraction', float('nan')):.1%}"
            )
            catalogue = {
                k.removeprefix("catalogue/"): v
                for k, v in sorted(m.items())
                if k.startswith("catalogue/") and not k.endswith("/items")
            }
            if catalogue:
                print(
                    "    agreement with the catalogue's own categories: "
                    + ", ".join(f"{k} {v:.3f}" for k, v in catalogue.items())
                )
    events_dir = Path(setting_value("INTEREST_PIPELINE_EVENTS_DIR"))
    truth_dir = events_dir.parent / "truth"
    if truth_dir.is_dir():
        print_recovery(warehouse, truth_dir)
    home = os.environ.get("DAGSTER_HOME", "data/dagster_home")
    print(
        "\nOpen the Dagster UI:  DAGSTER_HOME=" + home + " dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000"
        "\nOpen the MLflow UI:   mlflow ui --backend-store-uri " + tracking + " --host 127.0.0.1 --port 5000"
    )
    return 0


def print_evaluation(conn) -> None:
    """The hold-out evaluation as methods x a few headline metrics, for the users with history."""
    metrics = ["precision@10", "recall@20", "map@10", "ndcg@10", "coverage@20", "diversity@20", "auc", "mrr"]
    rows = conn.execute(
        "SELECT method, metric, value, user_group, protocol, n_users_scored FROM interest_evaluation"
    ).fetchall()
    if not rows:
        return
    values = {(m, k): v for m, k, v, g, _, _ in rows if g == "with_history"}
    users = {g: n for _, k, _, g, _, n in rows if k == "ndcg@10"}
    impression_metrics = sorted({k for _, k, *_ in rows if k.startswith("impression_")})
    ranking = [m for m in dict.fromkeys(m for m, *_ in rows) if (m, "ndcg@10") in values]
    columns = metrics + impression_metrics + ["ndcg@10_vs_popularity"]
    print(
        f"\nhold-out evaluation ({rows[0][4]} split; {users.get('with_history', 0)} users with history, "
        f"{users.get('cold_start', 0)} cold-start users scored apart):"
    )
    print("  " + f"{'method':22s}" + "".join(f"{k:>22s}" if len(k) > 12 else f"{k:>13s}" for k in columns))

    def cell(method: str, metric: str) -> str:
        width = 22 if len(metric) > 12 else 13
        value = values.get((method, metric))
        return (
            f"{value:{width}.4f}" if value is not None and value == value else f"{'-':>{width}s}"
        )  # popularity has no difference to itself

    for method in ranking:
        print("  " + f"{method:22s}" + "".join(cell(method, k) for k in columns))
    next_interest = [(m, k, v) for m, k, v, *_ in rows if k.startswith("hit@1_")]
    if next_interest:
        print(
            "\nnext-interest Hit@1: "
            + ", ".join(f"{m} {k.removeprefix('hit@1_')} {v:.4f}" for m, k, v in next_interest)
        )
    expansion = [(m, v) for m, k, v, *_ in rows if k == "expansion_precision"]
    if expansion:
        print("\nexpansion precision (share of suggested subtopics engaged with in the test events):")
        for method, value in expansion:
            print(f"  {method:26s} {value:.4f}")


def print_recommendations(conn, examples: int = 3) -> None:
    """What the recommended items serve, and the first user's top items with their reasons."""
    shares = conn.execute(
        "SELECT serves, count(*) / sum(count(*)) OVER () FROM item_recommendations GROUP BY serves ORDER BY 2 DESC"
    ).fetchall()
    if not shares:
        return
    users = conn.execute("SELECT count(DISTINCT user_id) FROM item_recommendations").fetchone()[0]
    print(
        f"\nitem recommendations ({users:,d} users; the interest each item serves): "
        + ", ".join(f"{serves} {share:.0%}" for serves, share in shares)
    )
    first = conn.execute(
        "SELECT user_id, rank, item_id, reason FROM item_recommendations "
        "WHERE user_id = (SELECT min(user_id) FROM item_recommendations) AND rank <= ? ORDER BY rank",
        [examples],
    ).fetchall()
    for user_id, rank, item_id, reason in first:
        print(f"  {user_id} #{rank} {item_id}: {reason}")


def print_recovery(warehouse: str, truth_dir: Path) -> None:
    """On generated data, how well the discovered structure matches the planted one."""
    import polars as pl

    from interest_pipeline.core.clustering.agreement import drift_separation, planted_recovery
    from interest_pipeline.defs.warehouse import connect_with_retry

    with connect_with_retry(warehouse, read_only=True) as conn:
        topics = conn.execute(
            "SELECT content_id, content_kind, subtopic_id, topic_id, is_noise FROM interest_topics"
        ).pl()
        core = conn.execute(
            "SELECT user_id, node_id FROM user_interest_layers WHERE level = 'subtopic' AND tier_long = 'core'"
        ).pl()
        layers = conn.execute(
            "SELECT user_id, level, drift_score FROM user_interest_layers WHERE source = 'activity'"
        ).pl()
    truth_users = pl.read_csv(truth_dir / "users.csv")
    scores = planted_recovery(
        topics, core, pl.read_csv(truth_dir / "items.csv"), pl.read_csv(truth_dir / "texts.csv"), truth_users
    )
    scores.update(drift_separation(layers, truth_users))
    print(f"\nagreement with the planted truth in {truth_dir}:")
    for key, value in scores.items():
        print(f"  {key:28s} {value:.3f}")


def release_slots(args: argparse.Namespace) -> int:
    """Free the pool slots of runs whose process is gone (what the daemon's dead_run_slot_sensor does)."""
    from dagster import DagsterInstance

    from interest_pipeline.defs.instance_setup import release_slots_of_dead_runs

    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise SystemExit("DAGSTER_HOME is not set: point it at the instance whose runs wait for the pool")
    with DagsterInstance.get() as instance:
        released = release_slots_of_dead_runs(instance)
    print(f"freed the pool slots of {len(released)} dead run(s) in {home}" + "".join(f"\n  {r}" for r in released))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="interest_pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="ingest every log date found and build everything downstream")
    run_parser.add_argument("--start", help="first log date to ingest (default: the earliest file)")
    run_parser.add_argument("--end", help="last log date to ingest (default: the latest file)")
    run_parser.set_defaults(handler=run)
    summary_parser = commands.add_parser("summary", help="print table sizes and the latest clustering runs")
    summary_parser.set_defaults(handler=summary)
    release_parser = commands.add_parser(
        "release-slots", help="free the warehouse pool slots of runs whose process died (DAGSTER_HOME's instance)"
    )
    release_parser.set_defaults(handler=release_slots)
    args = parser.parse_args(argv)
    return args.handler(args)
