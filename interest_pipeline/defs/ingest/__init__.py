"""Ingest: behaviour-log files by log date into the warehouse, every row accepted, a duplicate or quarantined
with its reason; the item catalogue; the ingest job, its daily schedule and the landing-folder sensor."""
