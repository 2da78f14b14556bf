"""Daily partitions of the behaviour logs, keyed by the date each event file was logged."""

import os

from dagster import DailyPartitionsDefinition

# The first log date; a deployment with older logs sets INTEREST_PIPELINE_START_DATE.
LOGS_START_DATE = os.environ.get("INTEREST_PIPELINE_START_DATE", "2026-10-01")

daily_log_partitions = DailyPartitionsDefinition(start_date=LOGS_START_DATE, timezone="UTC")
