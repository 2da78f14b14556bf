"""The features stage's definitions, with its shared asset properties applied once."""

from interest_pipeline.defs.conventions import stage_definitions
from interest_pipeline.defs.features import assets

defs = stage_definitions("features", assets)
