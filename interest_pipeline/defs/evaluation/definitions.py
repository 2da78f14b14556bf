"""The evaluation stage's definitions, with its shared asset properties applied once."""

from interest_pipeline.defs.conventions import stage_definitions
from interest_pipeline.defs.evaluation import assets

defs = stage_definitions("evaluation", assets)
