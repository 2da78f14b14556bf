"""Time of contact masking for 10 kB, 1 MB and 50 MB inputs of ordinary and hostile shapes.

    python -m interest_pipeline_tests.benchmarks.masking [--sizes 10000,1000000,50000000]

Prints one line per (shape, size): seconds (best of a few runs for the small sizes) and MB/s.
Linear time shows as a constant MB/s across sizes.

    python -m interest_pipeline_tests.benchmarks.masking --runs [--sizes 20000,40000,1000000]

masks a run of every character class of RUNS behind every prefix of ARMING_PREFIXES and prints,
per size, the slowest three (one run each). A run of spaces after an "at" once took 0.38 / 1.5 /
6.0 s at 20,000 / 40,000 / 80,000 characters: time growing with the square of the size.
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

# Runs of one character class, and the prefixes that make a pattern look further: an "at", a
# local part, an "@", a phone number's start or label, a written-out "at" or "dot", digits.
RUNS = {
    "spaces": " ",
    "'['": "[",
    "'('": "(",
    "'{'": "{",
    "'<'": "<",
    "']'": "]",
    "')'": ")",
    "'}'": "}",
    "'>'": ">",
    "tabs": "\t",
    "newlines": "\n",
    "CR LF": "\r\n",
    "no-break spaces": "\u00a0",
    "letters": "a",
    "digits": "1",
    "dots": ".",
    "'@'": "@",
    "'+'": "+",
    "'-'": "-",
    "' ('": " (",
    "' at'": " at",
    "' [at]'": " [at]",
    "right-to-left overrides": "\u202e",
    "overrides and pops": "\u202e\u202c",
    "left-to-right marks": "\u200e",
}
ARMING_PREFIXES = ("", "at ", "jo ", "x@", "+1 ", "tel: ", "[at] ", "dot ", "0170 ", "jo [at] x")


def build(unit: str, size: int, prefix: str = "") -> str:
    return prefix + (unit * (size // len(unit) + 1))[:size]


def measure(text: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        mask_contact_details(text)
        best = min(best, time.perf_counter() - start)
    return best


def time_run(unit: str, size: int, prefix: str) -> float:
    """Seconds to mask a run of ``size`` characters after ``prefix`` (once)."""
    return measure(build(unit, size, prefix), repeats=1)


def slowest_runs(size: int, keep: int = 3) -> list[tuple[float, str, str]]:
    """(seconds, run, prefix) of the slowest runs of ``size`` characters, slowest first."""
    timings = [
        (time_run(unit, size, prefix), name, prefix) for name, unit in RUNS.items() for prefix in ARMING_PREFIXES
    ]
    return sorted(timings, reverse=True)[:keep]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", help="input sizes in characters, comma-separated (default 10000,1000000,50000000)")
    parser.add_argument("--runs", action="store_true", help="the slowest runs of one character class instead")
    args = parser.parse_args(argv)
    sizes = [
        int(s) for s in (args.sizes or ("20000,40000,1000000" if args.runs else "10000,1000000,50000000")).split(",")
    ]
    if args.runs:
        print(f"{'run':26s} {'after':12s} {'size':>12s} {'seconds':>9s} {'MB/s':>8s}")
        for size in sizes:
            for seconds, name, prefix in slowest_runs(size):
                print(
                    f"{name:26s} {prefix!r:12s} {size:>12,d} {seconds:>9.4f} "
                    f"{size / 1e6 / seconds if seconds else float('inf'):>8.1f}",
                    flush=True,
                )
        return
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
