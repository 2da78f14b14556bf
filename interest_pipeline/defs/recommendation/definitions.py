"""The recommendation stage's definitions, with its shared asset properties applied once."""

from interest_pipeline.defs.conventions import stage_definitions
from interest_pipeline.defs.recommendation import assets

defs = stage_definitions("recommendation", assets)
