"""The clustering stage's definitions, with its shared asset properties applied once."""

from interest_pipeline.defs.clustering import assets, checks
from interest_pipeline.defs.conventions import stage_definitions

defs = stage_definitions("clustering", assets, checks)
