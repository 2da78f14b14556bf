"""Ingest: daily behaviour logs (with their quarantine) and the item catalogue."""


import datetime as dt
import time
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from dagster_duckdb import DuckDBResource

from interest_pipeline.core.events import (
    ACCEPTED_SCHEMA,
    REJECTED_SCHEMA,
    EventFileError,
    load_log_date,
    reject_event_ids_used_elsewhere,
    verify_unchanged,
)
from interest_pipeline.core.privacy import protect_events, quote_for_reason
from interest_pipeline.core.items import item_text, read_item_file, validate_items
from interest_pipeline.core.text import tokenize_frame
from interest_pipeline.defs.ingest.partitions import daily_log_partitions
from interest_pipeline.defs.conventions import WAREHOUSE_POOL, reload_daily, stage_tags
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.resources import ALLOW_EMPTY_PARTITIONS_VARIABLE, EventSource, PrivacySettings
from interest_pipeline.defs.warehouse import replace_partitions, replace_table, stored_event_ids, stored_partitions

GROUP = "ingest"


@multi_asset(
    pool=WAREHOUSE_POOL,
    specs=[
        AssetSpec(
            "raw_behavior_logs",
            description="Validated behaviour events, one partition per log date: types normalised, "
            "timestamps in UTC, exact duplicates dropped. Each partition is replaced atomically.",
            group_name=GROUP, tags=stage_tags(GROUP),
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
        )
    ],
    partitions_def=daily_log_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_behavior_logs(context: AssetExecutionContext, warehouse: DuckDBResource, event_source: EventSource, privacy: PrivacySettings):
    """Load the event files of each log date in the run's partition range and replace those partitions.

    Fails, storing nothing, when the events folder is missing, when a stored partition would be
    emptied because its files are gone (unless allowed), or when a file changes during the run.
    """
    start = time.perf_counter()
    log_dates = [dt.date.fromisoformat(key) for key in context.partition_keys]
    key, mask = privacy.key(), privacy.mask_contact_details
    quote = quote_for_reason(mask)
    event_source.check_events_dir()

    not_ingested = event_source.files_not_ingested(daily_log_partitions.start.date())
    for name, folder, reason in not_ingested:
        context.log.warning(f"{Path(folder) / name}: not ingested: {reason}")

    results, files_per_day = [], []
    for log_date in log_dates:
        files = event_source.files_for(log_date)
        files_per_day.append(files)
        results.append(load_log_date(files, log_date, quote=quote))
    days_without_files = [d for d, files in zip(log_dates, files_per_day) if not files]

    with warehouse.get_connection() as conn:
        stored_without_files = stored_partitions(conn, days_without_files)
        run_ids = pl.concat([r.accepted.select("event_id") for r in results]).unique()
        used_before = stored_event_ids(conn, run_ids, log_dates)
    if stored_without_files and not event_source.empty_partitions_allowed():
        raise EventFileError(
            f"no event files for log date(s) {', '.join(str(d) for d in stored_without_files)} in {event_source.events_dir} "
            f"or {event_source.landing_dir}, but the warehouse holds rows for them; nothing was stored. "
            f"Restore the files, or set {ALLOW_EMPTY_PARTITIONS_VARIABLE}=true to empty those partitions"
        )

    accepted, rejected, per_day, fingerprints = [], [], [], {}
    used = used_before
    for log_date, files, result in zip(log_dates, files_per_day, results):
        # The earliest log date of the run keeps an event id; later ones reject it.
        result = reject_event_ids_used_elsewhere(result, used, quote)
        used = pl.concat([used, result.accepted.select("event_id", "log_date")])
        fingerprints.update(result.fingerprints)
        protected_accepted, protected_rejected = protect_events(result.accepted, result.rejected, key, mask)
        accepted.append(protected_accepted)
        rejected.append(protected_rejected)
        per_day.append(
            {
                "log_date": log_date.isoformat(),
                "files": len(files),
                "read": result.n_read,
                "accepted": result.n_accepted,
                "rejected": result.n_rejected,
                "duplicates": result.n_duplicates,
            }
        )
        if not files:
            context.log.warning(f"no event files for {log_date} in {event_source.events_dir} or {event_source.landing_dir}")
    accepted_frame = pl.concat(accepted) if accepted else pl.DataFrame(schema=ACCEPTED_SCHEMA)
    rejected_frame = pl.concat(rejected) if rejected else pl.DataFrame(schema=REJECTED_SCHEMA)
    # A file rewritten while the run read and validated it would be stored half old, half new.
    verify_unchanged(fingerprints)
    with warehouse.get_connection() as conn:
        replace_partitions(
            conn,
            {"raw_behavior_logs": accepted_frame, "rejected_events": rejected_frame},
            partition_column="log_date",
            partition_values=log_dates,
        )
    counts = pl.DataFrame(per_day)
    unbalanced = counts.filter(pl.col("read") != pl.col("accepted") + pl.col("rejected") + pl.col("duplicates"))
    seconds = time.perf_counter() - start
    skipped = pl.DataFrame(not_ingested, schema={"file": pl.String, "folder": pl.String, "reason": pl.String}, orient="row")
    # Previews show the protected values only (the frames above are already protected).
    yield MaterializeResult(
        asset_key="raw_behavior_logs",
        metadata={
            # A range run records one materialization per partition with this same metadata,
            # so the row count, which Dagster shows per partition, is set only for one day.
            **({"dagster/row_count": accepted_frame.height} if len(log_dates) == 1 else {}),
            "partitions_in_run": len(log_dates),
            "rows_read": int(counts["read"].sum()),
            "rows_accepted": accepted_frame.height,
            "rows_rejected": rejected_frame.height,
            "rows_duplicate": int(counts["duplicates"].sum()),
            "files": int(counts["files"].sum()),
            "files_not_ingested": MetadataValue.md(markdown_table(skipped, max_rows=40, max_chars=120) if skipped.height else "none"),
            "seconds": round(seconds, 2),
            "per_partition": MetadataValue.md(markdown_table(counts, max_rows=40)),
            "preview": MetadataValue.md(markdown_table(accepted_frame.drop("source_file"))),
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
    reasons = rejected_frame.group_by("reason").len().sort("len", "reason", descending=[True, False]) if rejected_frame.height else pl.DataFrame()
    yield MaterializeResult(
        asset_key="rejected_events",
        metadata={
            **({"dagster/row_count": rejected_frame.height} if len(log_dates) == 1 else {}),
            "rows_rejected_in_run": rejected_frame.height,
            "top_reasons": MetadataValue.md(markdown_table(reasons) if reasons.height else "no rejected rows"),
            "preview": MetadataValue.md(markdown_table(rejected_frame) if rejected_frame.height else "no rejected rows"),
        },
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
    ]
)
def item_catalog(context: AssetExecutionContext, warehouse: DuckDBResource, event_source: EventSource):
    """Load and validate the item catalogue, replacing it whole."""
    raw = read_item_file(Path(event_source.items_path))
    accepted, rejected = validate_items(raw)
    catalog = tokenize_frame(accepted.with_columns(item_text(accepted).alias("item_text")), text_column="item_text")
    with warehouse.get_connection() as conn:
        replace_table(conn, "item_catalog", catalog)
        replace_table(conn, "rejected_items", rejected)
    yield MaterializeResult(
        asset_key="item_catalog",
        metadata={
            "dagster/row_count": catalog.height,
            "rows_read": raw.height,
            "titles_derived": catalog["title_derived"].sum(),
            "source": event_source.items_path,
            "preview": MetadataValue.md(markdown_table(catalog.select("item_id", "title", "language", "tokens"))),
        },
    )
    yield MaterializeResult(asset_key="rejected_items", metadata={"dagster/row_count": rejected.height})
