"""Checks on ingested tables. Their columns and types are checked against the declared schemas
(``defs/table_schemas.py``), like every table's; the freshness of the daily ingest is a policy on
the asset (see assets.py)."""
