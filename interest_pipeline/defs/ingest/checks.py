"""Checks on ingested tables (the freshness of the daily ingest is a policy on the asset: see assets.py)."""

from interest_pipeline.defs.table_checks import table_schema_check

raw_behavior_logs_schema = table_schema_check(
    "raw_behavior_logs",
    {
        "log_date": "DATE",
        "event_id": "VARCHAR",
        "user_id": "VARCHAR",
        "item_id": "VARCHAR",
        "event_type": "VARCHAR",
        "event_ts": "TIMESTAMP",
        "rating": "DOUBLE",
        "text": "VARCHAR",
        "source_file": "VARCHAR",
        "source_row": "BIGINT",
    },
    non_null=("log_date", "event_id", "user_id", "event_type", "event_ts", "source_file", "source_row"),
)

item_catalog_schema = table_schema_check(
    "item_catalog",
    {"item_id": "VARCHAR", "title": "VARCHAR", "text_clean": "VARCHAR", "tokens": "VARCHAR[]"},
    non_null=("item_id", "title", "text_clean"),
)

