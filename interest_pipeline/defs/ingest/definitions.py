"""The ingest stage's definitions, with its shared asset properties applied once."""

from interest_pipeline.defs.conventions import stage_definitions
from interest_pipeline.defs.ingest import assets, jobs, schedules, sensors

defs = stage_definitions("ingest", assets, jobs, schedules, sensors)
