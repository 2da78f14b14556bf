"""Ingest: daily behaviour logs (with their quarantine) and the item catalogue."""


import datetime as dt
import time
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from dagster_duckdb import DuckDBResource

from interest_pipeline.core.catalogue_coverage import MAX_UNKNOWN_ITEM_SHARE, catalogue_coverage, unknown_items_per_date
from interest_pipeline.core.events import (
    EventFileError,
    load_log_dates,
    reject_event_ids_used_elsewhere,
    summarise_dates,
    verify_unchanged,
)
from interest_pipeline.core.privacy import protect_events, quote_for_reason
from interest_pipeline.core.items import item_text, read_item_file, validate_items
from interest_pipeline.core.text import tokenize_frame
from interest_pipeline.defs.ingest.partitions import GRAIN_VARIABLE, PARTITION_GRAIN, log_dates_of, log_partitions
from interest_pipeline.defs.conventions import WAREHOUSE_POOL, reload_daily, stage_tags
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.resources import ALLOW_EMPTY_PARTITIONS_VARIABLE, EventSource, PrivacySettings
from interest_pipeline.defs.warehouse import (
    catalogued_item_ids,
    read_frame,
    replace_partitions,
    replace_table,
    stored_event_ids,
    stored_partitions,
    table_exists,
)

GROUP = "ingest"

# Above this share of rejected rows in a partition the rejection-rate check warns.
MAX_REJECTED_SHARE = 0.05
# The daily schedule ingests at 00:30 UTC: at each 03:00, the log must have been updated within
# the last 24 hours, or Dagster shows it as failing its freshness (asset health, Freshness).
DAILY_INGEST_FRESHNESS = FreshnessPolicy.cron(deadline_cron="0 3 * * *", lower_bound_delta=dt.timedelta(hours=24), timezone="UTC")
# Dagster copies its per-partition metadata once per call, so a run of thousands of partitions
# would spend minutes on it: above this many, the counts are one table in the run's metadata.
MAX_PARTITIONS_WITH_OWN_METADATA = 500

_PARTITIONS_NOTE = (
    f"Partitions: one per {PARTITION_GRAIN} of log dates ({GRAIN_VARIABLE}), from INTEREST_PIPELINE_START_DATE "
    + ("to the last closed day" if PARTITION_GRAIN == "day" else f"to the current {PARTITION_GRAIN}")
    + "; those after the last log file show as missing until their files arrive (INTEREST_PIPELINE_END_DATE closes the "
    "set for a finished history). Each partition's metadata holds its own counts; the run's totals are the run_* entries."
)


def partition_counts(per_date: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The per-log-date counts summed per partition key, in key order."""
    mapping = pl.DataFrame(
        [(key, day) for key in keys for day in log_dates_of(log_partitions, [key])],
        schema={"partition": pl.String, "log_date": pl.Date},
        orient="row",
    )
    summed = [c for c in per_date.columns if c != "log_date"]
    return (
        mapping.join(per_date, on="log_date", how="left")
        .group_by("partition", maintain_order=True)
        .agg(pl.col("log_date").count().alias("log_dates"), (pl.col("files") > 0).sum().alias("log_dates_with_files"), *[pl.col(c).sum() for c in summed])
    )


# Names of the per-partition counts in the partition's metadata.
_METADATA_NAMES = {"read": "rows_read", "accepted": "rows_accepted", "rejected": "rows_rejected", "duplicates": "rows_duplicate"}


def _count_per_date(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    return frame.group_by("log_date").agg(pl.len().cast(pl.Int64).alias(name))


@multi_asset(
    pool=WAREHOUSE_POOL,
    specs=[
        AssetSpec(
            "raw_behavior_logs",
            description="Validated behaviour events, each with the log date of its file: types normalised, timestamps "
            "in UTC, exact duplicates dropped. A run replaces all log dates of its partitions in one transaction. " + _PARTITIONS_NOTE,
            group_name=GROUP, tags=stage_tags(GROUP), freshness_policy=DAILY_INGEST_FRESHNESS,
            kinds={"duckdb", "polars"},
        ),
        AssetSpec(
            "rejected_events",
            description="Quarantine: every event row that failed validation, with its file, row number, raw text and reason.",
            group_name=GROUP, tags=stage_tags(GROUP),
            kinds={"duckdb", "polars"},
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            "rows_conserved",
            asset="raw_behavior_logs",
            description="Per partition: rows read = accepted + rejected + duplicates.",
        ),
        AssetCheckSpec(
            "rejection_rate_within_bounds",
            asset="rejected_events",
            description=f"Warns when more than {MAX_REJECTED_SHARE:.0%} of the rows read in a partition of the run were rejected.",
        ),
    ],
    partitions_def=log_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_behavior_logs(context: AssetExecutionContext, warehouse: DuckDBResource, event_source: EventSource, privacy: PrivacySettings):
    """Load the event files of every log date of the run's partitions and replace those log dates.

    All files are listed once, read, validated in one pass and stored in one transaction, so the
    cost follows the rows, not the number of days. Fails, storing nothing, when the events folder
    is missing, when stored log dates would be emptied because their files are gone (unless
    allowed), or when a file changes during the run.
    """
    start = time.perf_counter()
    keys = list(context.partition_keys)
    log_dates = log_dates_of(log_partitions, keys)
    key, mask = privacy.key(), privacy.mask_contact_details
    quote = quote_for_reason(mask)
    event_source.check_events_dir()

    not_ingested = event_source.files_not_ingested(log_partitions.start.date())
    for name, folder, reason in not_ingested:
        context.log.warning(f"{Path(folder) / name}: not ingested: {reason}")

    files_by_date = event_source.files_by_date(log_dates)
    result = load_log_dates(files_by_date, quote=quote)
    days_without_files = [d for d in log_dates if not files_by_date[d]]
    with warehouse.get_connection() as conn:
        stored_without_files = stored_partitions(conn, days_without_files)
        used_before = stored_event_ids(conn, result.accepted.select("event_id").unique(), log_dates)
        catalogue_ids = catalogued_item_ids(conn)
    if stored_without_files and not event_source.empty_partitions_allowed():
        raise EventFileError(
            f"no event files for log date(s) {', '.join(str(d) for d in stored_without_files)} in {event_source.events_dir} "
            f"or {event_source.landing_dir}, but the warehouse holds rows for them; nothing was stored. "
            f"Restore the files, or set {ALLOW_EMPTY_PARTITIONS_VARIABLE}=true to empty those partitions"
        )
    # One line for all of them: a history of years has thousands of days without events. Days still
    # to come (the rest of the current week or month) are left out.
    today = dt.datetime.now(dt.timezone.utc).date()
    past_without_files = [d for d in days_without_files if d < today]
    if past_without_files:
        context.log.warning(
            f"no event files for {len(past_without_files):,d} of {sum(d < today for d in log_dates):,d} log dates "
            f"({summarise_dates(past_without_files)}) in {event_source.events_dir} or {event_source.landing_dir}"
        )
    # The earliest log date of the run keeps an event id; later ones reject it.
    result = reject_event_ids_used_elsewhere(result, used_before, quote)
    accepted_frame, rejected_frame = protect_events(result.accepted, result.rejected, key, mask)
    # A file rewritten while the run read and validated it would be stored half old, half new.
    verify_unchanged(result.fingerprints)
    with warehouse.get_connection() as conn:
        replace_partitions(
            conn,
            {"raw_behavior_logs": accepted_frame, "rejected_events": rejected_frame},
            partition_column="log_date",
            partition_values=log_dates,
        )

    files = pl.DataFrame({"log_date": log_dates, "files": [len(files_by_date[d]) for d in log_dates]}, schema={"log_date": pl.Date, "files": pl.Int64})
    per_date = (
        files.join(result.counts, on="log_date", how="left")
        .join(_count_per_date(accepted_frame, "accepted"), on="log_date", how="left")
        .join(_count_per_date(rejected_frame, "rejected"), on="log_date", how="left")
        .select("log_date", "files", "read", "accepted", "rejected", "duplicates")
        .fill_null(0)
    )
    if catalogue_ids is not None:
        unknown = unknown_items_per_date(accepted_frame.select("log_date", "item_id"), catalogue_ids)
        per_date = per_date.join(unknown.select("log_date", "events_on_unknown_items"), on="log_date", how="left").fill_null(0)
    counts = partition_counts(per_date, keys)
    unbalanced = counts.filter(pl.col("read") != pl.col("accepted") + pl.col("rejected") + pl.col("duplicates"))
    rejected_share = counts.with_columns((pl.col("rejected") / pl.col("read")).fill_nan(0.0).fill_null(0.0).alias("rejected_share"))
    too_many_rejected = rejected_share.filter(pl.col("rejected_share") > MAX_REJECTED_SHARE).sort("rejected_share", descending=True)
    total_read = int(counts["read"].sum())

    own_metadata = len(keys) <= MAX_PARTITIONS_WITH_OWN_METADATA
    if own_metadata:
        for row in counts.iter_rows(named=True):
            partition_metadata = {_METADATA_NAMES.get(name, name): value for name, value in row.items() if name != "partition"}
            context.add_asset_metadata({"dagster/row_count": row["accepted"], **partition_metadata}, asset_key="raw_behavior_logs", partition_key=row["partition"])
            context.add_asset_metadata({"dagster/row_count": row["rejected"], "rows_read": row["read"]}, asset_key="rejected_events", partition_key=row["partition"])
    else:
        context.log.info(f"{len(keys):,d} partitions in the run: their counts are in the run's per_partition table only; "
                         f"set {GRAIN_VARIABLE}=month for a history of years")
    seconds = time.perf_counter() - start
    skipped = pl.DataFrame(not_ingested, schema={"file": pl.String, "folder": pl.String, "reason": pl.String}, orient="row")
    coverage = (
        catalogue_coverage(accepted_frame["item_id"], catalogue_ids).message() if catalogue_ids is not None
        else "item_catalog is not stored yet: its check events_refer_to_catalogued_items reports the coverage"
    )
    reasons = rejected_frame.group_by("reason").len().sort("len", "reason", descending=[True, False]) if rejected_frame.height else pl.DataFrame()
    # Previews show the protected values only (the frames above are already protected). The run's
    # tables go on its last partition only: on every partition they would be stored hundreds of times.
    raw_tables = {
        "files_not_ingested": MetadataValue.md(markdown_table(skipped, max_rows=40, max_chars=120) if skipped.height else "none"),
        "per_partition": MetadataValue.md(markdown_table(counts.filter(pl.col("log_dates_with_files") > 0), max_rows=40)),
        "preview": MetadataValue.md(markdown_table(accepted_frame.drop("source_file"))),
    }
    rejected_tables = {
        "top_reasons": MetadataValue.md(markdown_table(reasons) if reasons.height else "no rejected rows"),
        "preview": MetadataValue.md(markdown_table(rejected_frame) if rejected_frame.height else "no rejected rows"),
    }
    if own_metadata:
        context.add_asset_metadata(raw_tables, asset_key="raw_behavior_logs", partition_key=keys[-1])
        context.add_asset_metadata(rejected_tables, asset_key="rejected_events", partition_key=keys[-1])
        raw_tables, rejected_tables = {"run_tables_on_partition": keys[-1]}, {"run_tables_on_partition": keys[-1]}
    yield MaterializeResult(
        asset_key="raw_behavior_logs",
        metadata={
            "run_partitions": len(keys),
            "run_log_dates": len(log_dates),
            "run_log_dates_without_files": len(days_without_files),
            "run_rows_read": total_read,
            "run_rows_accepted": accepted_frame.height,
            "run_rows_rejected": rejected_frame.height,
            "run_rows_duplicate": int(counts["duplicates"].sum()),
            "run_files": int(counts["files"].sum()),
            "run_seconds": round(seconds, 2),
            "run_catalogue_coverage": coverage,
            **raw_tables,
        },
        check_results=[
            AssetCheckResult(
                check_name="rows_conserved",
                asset_key=AssetKey("raw_behavior_logs"),
                passed=unbalanced.height == 0,
                metadata={"unbalanced_partitions": MetadataValue.md(markdown_table(unbalanced)) if unbalanced.height else "none"},
            )
        ],
    )
    yield MaterializeResult(
        asset_key="rejected_events",
        metadata={
            "run_rows_rejected": rejected_frame.height,
            "run_rejected_share": round(rejected_frame.height / total_read, 4) if total_read else 0.0,
            **rejected_tables,
        },
        check_results=[
            AssetCheckResult(
                check_name="rejection_rate_within_bounds",
                asset_key=AssetKey("rejected_events"),
                passed=too_many_rejected.height == 0,
                severity=AssetCheckSeverity.WARN,
                description=(
                    f"{too_many_rejected.height} of {counts.height} partitions rejected more than {MAX_REJECTED_SHARE:.0%} of their rows"
                    if too_many_rejected.height else f"every partition rejected at most {MAX_REJECTED_SHARE:.0%} of its rows"
                ),
                metadata={
                    "max_rejected_share": MAX_REJECTED_SHARE,
                    "run_rejected_share": round(rejected_frame.height / total_read, 4) if total_read else 0.0,
                    "partitions_over": MetadataValue.md(
                        markdown_table(too_many_rejected.select("partition", "read", "rejected", "rejected_share"), max_rows=20)
                    ) if too_many_rejected.height else "none",
                    "top_reasons": MetadataValue.md(markdown_table(reasons.head(5)) if reasons.height else "no rejected rows"),
                },
            )
        ],
    )


@multi_asset(
    pool=WAREHOUSE_POOL,
    specs=[
        AssetSpec(
            "item_catalog",
            description="Items with title, description and any category fields of the input, plus the cleaned, "
            "tokenized item text used for embeddings and topic labels.",
            group_name=GROUP, tags=stage_tags(GROUP), automation_condition=reload_daily,
            kinds={"duckdb", "polars"},
        ),
        AssetSpec(
            "rejected_items",
            description="Catalogue rows without an id or title, or repeating an earlier id, with the reason.",
            group_name=GROUP, tags=stage_tags(GROUP),
            kinds={"duckdb", "polars"},
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            "events_refer_to_catalogued_items",
            asset="item_catalog",
            description=f"Warns when more than {MAX_UNKNOWN_ITEM_SHARE:.0%} of the stored events with an item refer to items "
            "missing from the catalogue: they reach no topic, and users with only such events get the popular fallback.",
        )
    ],
)
def item_catalog(context: AssetExecutionContext, warehouse: DuckDBResource, event_source: EventSource):
    """Load and validate the item catalogue, replacing it whole."""
    raw = read_item_file(Path(event_source.items_path))
    accepted, rejected = validate_items(raw)
    catalog = tokenize_frame(accepted.with_columns(item_text(accepted).alias("item_text")), text_column="item_text")
    with warehouse.get_connection() as conn:
        replace_table(conn, "item_catalog", catalog)
        replace_table(conn, "rejected_items", rejected)
        events = read_frame(conn, "SELECT log_date, item_id FROM raw_behavior_logs") if table_exists(conn, "raw_behavior_logs") else None
    coverage, worst_dates = None, pl.DataFrame()
    if events is not None:
        coverage = catalogue_coverage(events["item_id"], catalog["item_id"])
        per_date = unknown_items_per_date(events, catalog["item_id"])
        worst_dates = per_date.filter(pl.col("events_on_unknown_items") > 0).sort("events_on_unknown_items", "log_date", descending=[True, False])
    yield MaterializeResult(
        asset_key="item_catalog",
        metadata={
            "dagster/row_count": catalog.height,
            "rows_read": raw.height,
            "titles_derived": catalog["title_derived"].sum(),
            "source": event_source.items_path,
            "preview": MetadataValue.md(markdown_table(catalog.select("item_id", "title", "language", "tokens"))),
        },
        check_results=[
            AssetCheckResult(
                check_name="events_refer_to_catalogued_items",
                asset_key=AssetKey("item_catalog"),
                passed=coverage is None or coverage.passed,
                severity=AssetCheckSeverity.WARN,
                description=coverage.message() if coverage else "no events are stored yet",
                metadata={
                    "events_with_item": coverage.events_with_item if coverage else 0,
                    "events_on_unknown_items": coverage.events_on_unknown_items if coverage else 0,
                    "unknown_share": round(coverage.unknown_share, 4) if coverage else 0.0,
                    "distinct_unknown_items": coverage.distinct_unknown_items if coverage else 0,
                    "examples": ", ".join(coverage.examples) if coverage and coverage.examples else "none",
                    "log_dates_with_most_unknown": MetadataValue.md(markdown_table(worst_dates, max_rows=10)) if worst_dates.height else "none",
                },
            )
        ],
    )
    yield MaterializeResult(asset_key="rejected_items", metadata={"dagster/row_count": rejected.height})
