"""Sample sizes of the benchmark and the generation of their data."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from interest_pipeline.sample_data import SampleSpec, generate_sample


@dataclass(frozen=True)
class Scale:
    name: str
    spec: SampleSpec
    target: str  # what the scale aims at, in words

    @property
    def first_log_date(self) -> str:
        return self.spec.start_date.isoformat()

    @property
    def last_log_date(self) -> str:
        return (self.spec.start_date + dt.timedelta(days=self.spec.n_days - 1)).isoformat()


# Events ~ n_users * mean_events_per_user; the generator writes ~5% of the events as
# review comments and ~8% as search queries (both are user texts for the pipeline).
SCALES: dict[str, Scale] = {
    # for the suite: the entry points run end to end in about a minute
    "tiny": Scale(
        "tiny",
        SampleSpec(n_users=150, n_items=120, n_days=4, mean_events_per_user=12),
        "~1,800 events, ~90 reviews + ~140 searches, 150 users",
    ),
    "small": Scale(
        "small",
        SampleSpec(n_users=700, n_items=300, n_days=30, mean_events_per_user=30),
        "~20,000 events, ~1,000 reviews + ~1,600 searches, 700 users",
    ),
    "medium": Scale(
        "medium",
        SampleSpec(n_users=20_000, n_items=3_000, n_days=30, mean_events_per_user=10),
        "~200,000 events, ~10,000 reviews + ~16,000 searches, 20,000 users",
    ),
    "large": Scale(
        "large",
        SampleSpec(n_users=100_000, n_items=10_000, n_days=30, mean_events_per_user=20),
        "~2,000,000 events, ~100,000 reviews + ~160,000 searches, 100,000 users",
    ),
}


def spec_as_dict(spec: SampleSpec) -> dict:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(spec).items()}


def write_sample(scale: Scale, folder: Path) -> dict:
    """Generate the scale's sample (deterministic, fast) and return the generator's summary."""
    start = time.perf_counter()
    summary = generate_sample(folder, scale.spec)
    texts = summary["comments"] + summary["searches"]
    return {**summary, "texts": texts, "generate_seconds": round(time.perf_counter() - start, 2)}
