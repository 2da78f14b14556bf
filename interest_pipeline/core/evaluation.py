"""Former name of :mod:`interest_pipeline.core.recovery`, kept while imports move over."""

from interest_pipeline.core.recovery import agreement, core_interest_hit_rate, drift_separation, majority_mapping, planted_recovery  # noqa: F401
