"""What an ingest run reports: counts per partition and for the run, previews of what was stored and
quarantined, and the conservation and rejection-rate checks."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
)

from interest_pipeline.core.ingest.catalogue_coverage import catalogue_coverage, unknown_items_per_date
from interest_pipeline.core.ingest.event_schema import ValidatedEvents
from interest_pipeline.defs.ingest.partitions import GRAIN_VARIABLE, log_dates_of, log_partitions
from interest_pipeline.defs.metadata import markdown_table

# Above this share of rejected rows in a partition the rejection-rate check warns.
MAX_REJECTED_SHARE = 0.05
# Dagster copies its per-partition metadata once per call, so a run of thousands of partitions
# would spend minutes on it: above this many, the counts are one table in the run's metadata.
MAX_PARTITIONS_WITH_OWN_METADATA = 500


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
        .agg(
            pl.col("log_date").count().alias("log_dates"),
            (pl.col("files") > 0).sum().alias("log_dates_with_files"),
            *[pl.col(c).sum() for c in summed],
        )
    )


# Names of the per-partition counts in the partition's metadata.
_METADATA_NAMES = {
    "read": "rows_read",
    "accepted": "rows_accepted",
    "rejected": "rows_rejected",
    "duplicates": "rows_duplicate",
}


def _count_per_date(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    return frame.group_by("log_date").agg(pl.len().cast(pl.Int64).alias(name))


@dataclass
class IngestRun:
    """What one ingest run read and stored, for its metadata and checks."""

    keys: list[str]
    log_dates: list[dt.date]
    files_by_date: dict[dt.date, list[Path]]
    result: ValidatedEvents
    accepted_frame: pl.DataFrame
    rejected_frame: pl.DataFrame
    catalogue_ids: pl.Series | None
    not_ingested: list[tuple[str, str, str]]
    days_without_files: list[dt.date]
    start: float
    table_rows: int  # rows of raw_behavior_logs over all partitions, after the run


def ingest_results(context: AssetExecutionContext, run: IngestRun):
    """The run's per-partition metadata (added to the context), then a MaterializeResult per asset
    with the run's totals, previews and the conservation and rejection-rate checks."""
    keys, log_dates, files_by_date, result = run.keys, run.log_dates, run.files_by_date, run.result
    accepted_frame, rejected_frame, catalogue_ids = run.accepted_frame, run.rejected_frame, run.catalogue_ids
    not_ingested, days_without_files, start = run.not_ingested, run.days_without_files, run.start
    files = pl.DataFrame(
        {"log_date": log_dates, "files": [len(files_by_date[d]) for d in log_dates]},
        schema={"log_date": pl.Date, "files": pl.Int64},
    )
    per_date = (
        files.join(result.counts, on="log_date", how="left")
        .join(_count_per_date(accepted_frame, "accepted"), on="log_date", how="left")
        .join(_count_per_date(rejected_frame, "rejected"), on="log_date", how="left")
        .select("log_date", "files", "read", "accepted", "rejected", "duplicates")
        .fill_null(0)
    )
    if catalogue_ids is not None:
        unknown = unknown_items_per_date(accepted_frame.select("log_date", "item_id"), catalogue_ids)
        per_date = per_date.join(
            unknown.select("log_date", "events_on_unknown_items"), on="log_date", how="left"
        ).fill_null(0)
    counts = partition_counts(per_date, keys)
    unbalanced = counts.filter(pl.col("read") != pl.col("accepted") + pl.col("rejected") + pl.col("duplicates"))
    rejected_share = counts.with_columns(
        (pl.col("rejected") / pl.col("read")).fill_nan(0.0).fill_null(0.0).alias("rejected_share")
    )
    too_many_rejected = rejected_share.filter(pl.col("rejected_share") > MAX_REJECTED_SHARE).sort(
        "rejected_share", descending=True
    )
    total_read = int(counts["read"].sum())

    own_metadata = len(keys) <= MAX_PARTITIONS_WITH_OWN_METADATA
    if own_metadata:
        for row in counts.iter_rows(named=True):
            partition_metadata = {
                _METADATA_NAMES.get(name, name): value for name, value in row.items() if name != "partition"
            }
            context.add_asset_metadata(
                {"dagster/row_count": row["accepted"], **partition_metadata},
                asset_key="raw_behavior_logs",
                partition_key=row["partition"],
            )
            context.add_asset_metadata(
                {"dagster/row_count": row["rejected"], "rows_read": row["read"]},
                asset_key="rejected_events",
                partition_key=row["partition"],
            )
    else:
        context.log.info(
            f"{len(keys):,d} partitions in the run: their counts are in the run's per_partition table only; "
            f"set {GRAIN_VARIABLE}=month for a history of years"
        )
    seconds = time.perf_counter() - start
    skipped = pl.DataFrame(
        not_ingested, schema={"file": pl.String, "folder": pl.String, "reason": pl.String}, orient="row"
    )
    coverage = (
        catalogue_coverage(accepted_frame["item_id"], catalogue_ids).message()
        if catalogue_ids is not None
        else "item_catalog is not stored yet: its check events_refer_to_catalogued_items reports the coverage"
    )
    reasons = (
        rejected_frame.group_by("reason").len().sort("len", "reason", descending=[True, False])
        if rejected_frame.height
        else pl.DataFrame()
    )
    # Previews show the protected values only (the frames above are already protected). The run's
    # tables go on its last partition only: on every partition they would be stored hundreds of times.
    raw_tables = {
        "files_not_ingested": MetadataValue.md(
            markdown_table(skipped, max_rows=40, max_chars=120) if skipped.height else "none"
        ),
        "per_partition": MetadataValue.md(
            markdown_table(counts.filter(pl.col("log_dates_with_files") > 0), max_rows=40)
        ),
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
            # the asset page's "Row count" is the last partition's; this is the whole table's
            "table_rows_all_partitions": run.table_rows,
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
                metadata={
                    "unbalanced_partitions": MetadataValue.md(markdown_table(unbalanced))
                    if unbalanced.height
                    else "none"
                },
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
                    if too_many_rejected.height
                    else f"every partition rejected at most {MAX_REJECTED_SHARE:.0%} of its rows"
                ),
                metadata={
                    "max_rejected_share": MAX_REJECTED_SHARE,
                    "run_rejected_share": round(rejected_frame.height / total_read, 4) if total_read else 0.0,
                    "partitions_over": MetadataValue.md(
                        markdown_table(
                            too_many_rejected.select("partition", "read", "rejected", "rejected_share"), max_rows=20
                        )
                    )
                    if too_many_rejected.height
                    else "none",
                    "top_reasons": MetadataValue.md(
                        markdown_table(reasons.head(5)) if reasons.height else "no rejected rows"
                    ),
                },
            )
        ],
    )
