"""The profiles stage's definitions, with its shared asset properties applied once."""

from interest_pipeline.defs.conventions import stage_definitions
from interest_pipeline.defs.profiles import assets, checks

defs = stage_definitions("profiles", assets, checks)
