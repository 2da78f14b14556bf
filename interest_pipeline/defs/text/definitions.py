"""The text stage's definitions, with its shared asset properties applied once."""

from interest_pipeline.defs.conventions import stage_definitions
from interest_pipeline.defs.text import assets, checks

defs = stage_definitions("text", assets, checks)
