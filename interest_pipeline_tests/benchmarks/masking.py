"""Time of contact masking for 10 kB, 1 MB and 50 MB inputs of ordinary and hostile shapes.

    python -m interest_pipeline_tests.benchmarks.masking [--sizes 10000,1000000,50000000]

Prints one line per (shape, size): seconds (best of a few runs for the small sizes) and MB/s.
Linear time shows as a constant MB/s across sizes.
"""

from __future__ import annotations

import argparse
import time

from interest_pipeline.core.ingest.privacy import mask_contact_details

SHAPES = {
    "review text with contacts": "Great shoes, ordered on 2026-10-03 for $129.99; mail jo.doe@example.com or call +44 20 7946 0958. ",
    "run of 'a'": "a",
    "run of digits": "1",
    "'a@' repeated": "a@",
    "'a.' repeated": "a.",
    "digits and spaces": "1 ",
    "phone numbers": "0170 1234567 ",
    "two-digit groups": "12 ",
    "'a [at] ' repeated": "a [at] ",
    "written-out addresses": "a at b dot ",
}


def build(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def measure(text: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        mask_contact_details(text)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,1000000,50000000", help="input sizes in characters, comma-separated")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'shape':28s} {'size':>12s} {'seconds':>9s} {'MB/s':>8s}")
    for name, unit in SHAPES.items():
        for size in sizes:
            seconds = measure(build(unit, size), repeats=5 if size <= 1_000_000 else 1)
            print(
                f"{name:28s} {size:>12,d} {seconds:>9.4f} {size / 1e6 / seconds if seconds else float('inf'):>8.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
