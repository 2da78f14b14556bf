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
)
from dagster_duckdb import DuckDBResource

from interest_pipeline.core.common.tokenize import tokenize_frame
from interest_pipeline.core.ingest.catalogue import item_text, read_item_file, validate_items
from interest_pipeline.core.ingest.catalogue_coverage import (
    MAX_UNKNOWN_ITEM_SHARE,
    catalogue_coverage,
    unknown_items_per_date,
)
from interest_pipeline.core.ingest.event_files import has_control_characters, summarise_dates, verify_unchanged
from interest_pipeline.core.ingest.event_schema import EventFileError
from interest_pipeline.core.ingest.privacy import mask_contact_details, protect_events, quote_for_reason
from interest_pipeline.core.ingest.stored_files import lost_stored_files
from interest_pipeline.core.ingest.validation import load_log_dates, reject_event_ids_used_elsewhere
from interest_pipeline.defs.conventions import reload_daily, warehouse_multi_asset
from interest_pipeline.defs.ingest.partitions import (
    GRAIN_VARIABLE,
    PARTITION_GRAIN,
    last_log_date,
    log_dates_of,
    log_partitions,
)
from interest_pipeline.defs.ingest.reporting import MAX_REJECTED_SHARE, IngestRun, ingest_results
from interest_pipeline.defs.metadata import markdown_table
from interest_pipeline.defs.resources import ALLOW_EMPTY_PARTITIONS_VARIABLE, EventSource, PrivacySettings
from interest_pipeline.defs.warehouse import (
    catalogued_item_ids,
    read_frame,
    replace_partitions,
    replace_table,
    stored_event_ids,
    stored_partitions,
    stored_source_files,
    table_exists,
)

# The daily schedule ingests at 00:30 UTC: at each 03:00, the log must have been updated within
# the last 24 hours, or Dagster shows it as failing its freshness (asset health, Freshness).
DAILY_INGEST_FRESHNESS = FreshnessPolicy.cron(
    deadline_cron="0 3 * * *", lower_bound_delta=dt.timedelta(hours=24), timezone="UTC"
)
_PARTITIONS_NOTE = (
    f"Partitions: one per {PARTITION_GRAIN} of log dates ({GRAIN_VARIABLE}), from INTEREST_PIPELINE_START_DATE "
    + ("to the last closed day" if PARTITION_GRAIN == "day" else f"to the current {PARTITION_GRAIN}")
    + "; those after the last log file show as missing until their files arrive (INTEREST_PIPELINE_END_DATE closes the "
    "set for a finished history). Each partition's metadata holds its own counts; the run's totals are the run_* entries."
)


@warehouse_multi_asset(
    specs=[
        AssetSpec(
            "raw_behavior_logs",
            description="Validated behaviour events, each with the log date of its file: types normalised, timestamps "
            "in UTC, exact duplicates dropped. A run replaces all log dates of its partitions in one transaction. "
            + _PARTITIONS_NOTE,
            freshness_policy=DAILY_INGEST_FRESHNESS,
            kinds={"polars"},
        ),
        AssetSpec(
            "rejected_events",
            description="Quarantine: every event row that failed validation, with its file, row number, raw text and reason.",
            kinds={"polars"},
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
def raw_behavior_logs(
    context: AssetExecutionContext, warehouse: DuckDBResource, event_source: EventSource, privacy: PrivacySettings
):
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
    if (
        not Path(event_source.landing_dir).is_dir()
        and event_source.landing_dir != EventSource.model_fields["landing_dir"].default
    ):
        context.log.warning(
            f"the landing folder {event_source.landing_dir} does not exist (INTEREST_PIPELINE_LANDING_DIR): "
            f"only {event_source.events_dir} is read"
        )

    not_ingested = event_source.files_not_ingested(log_partitions.start.date(), last_log_date(log_partitions))
    for name, folder, reason in not_ingested:
        shown = Path(folder) / name
        # A name with a line break would write a fake line into the log: shown quoted.
        context.log.warning(f"{repr(str(shown)) if has_control_characters(name) else shown}: not ingested: {reason}")

    files_by_date = event_source.files_by_date(log_dates)
    result = load_log_dates(files_by_date, quote=quote)
    days_without_files = [d for d in log_dates if not files_by_date[d]]
    with warehouse.get_connection() as conn:
        stored_without_files = stored_partitions(conn, days_without_files)
        stored_files = stored_source_files(conn, [d for d in log_dates if files_by_date[d]])
        used_before = stored_event_ids(conn, result.accepted.select("event_id").unique(), log_dates)
        catalogue_ids = catalogued_item_ids(conn)
    if stored_without_files and not event_source.empty_partitions_allowed():
        raise EventFileError(
            f"no event files for log date(s) {', '.join(str(d) for d in stored_without_files)} in {event_source.events_dir} "
            f"or {event_source.landing_dir}, but the warehouse holds rows for them; nothing was stored. "
            f"Restore the files, or set {ALLOW_EMPTY_PARTITIONS_VARIABLE}=true to empty those partitions"
        )
    # source_file is stored masked when masking is on: compare names as they were stored.
    lost = lost_stored_files(stored_files, files_by_date, result.rows_per_file, mask_contact_details if mask else str)
    if lost and not event_source.empty_partitions_allowed():
        shown = "; ".join(lost[:10]) + (f"; and {len(lost) - 10:,d} more" if len(lost) > 10 else "")
        raise EventFileError(
            f"stored rows would be dropped without their files saying so: {shown}; nothing was stored. Restore the "
            f"files (check INTEREST_PIPELINE_EVENTS_DIR and INTEREST_PIPELINE_LANDING_DIR), or set "
            f"{ALLOW_EMPTY_PARTITIONS_VARIABLE}=true to replace those log dates with what their files hold now"
        )
    for line in lost:
        context.log.warning(f"{line}: its stored rows are dropped ({ALLOW_EMPTY_PARTITIONS_VARIABLE})")
    # One line for all of them: a history of years has thousands of days without events. Days still
    # to come (the rest of the current week or month) are left out.
    today = dt.datetime.now(dt.UTC).date()
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
        table_rows = conn.execute("SELECT count(*) FROM raw_behavior_logs").fetchone()[0]

    yield from ingest_results(
        context,
        IngestRun(
            keys,
            log_dates,
            files_by_date,
            result,
            accepted_frame,
            rejected_frame,
            catalogue_ids,
            not_ingested,
            days_without_files,
            start,
            table_rows,
        ),
    )


@warehouse_multi_asset(
    specs=[
        AssetSpec(
            "item_catalog",
            description="Items with title, description and any category fields of the input, plus the cleaned, "
            "tokenized item text used for embeddings and topic labels.",
            automation_condition=reload_daily,
            kinds={"polars"},
        ),
        AssetSpec(
            "rejected_items",
            description="Catalogue rows without an id or title, or repeating an earlier id, with the reason.",
            kinds={"polars"},
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
        events = (
            read_frame(conn, "SELECT log_date, item_id FROM raw_behavior_logs")
            if table_exists(conn, "raw_behavior_logs")
            else None
        )
    coverage, worst_dates = None, pl.DataFrame()
    if events is not None:
        coverage = catalogue_coverage(events["item_id"], catalog["item_id"])
        per_date = unknown_items_per_date(events, catalog["item_id"])
        worst_dates = per_date.filter(pl.col("events_on_unknown_items") > 0).sort(
            "events_on_unknown_items", "log_date", descending=[True, False]
        )
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
                    "log_dates_with_most_unknown": MetadataValue.md(markdown_table(worst_dates, max_rows=10))
                    if worst_dates.height
                    else "none",
                },
            )
        ],
    )
    yield MaterializeResult(asset_key="rejected_items", metadata={"dagster/row_count": rejected.height})
