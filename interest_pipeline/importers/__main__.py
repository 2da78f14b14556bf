"""Command line: ``python -m interest_pipeline.importers FORMAT PATHS... --out data/landing/``.

Prints the import report as JSON on stdout, then, on stderr, the recommended partition grain and
the environment lines that point the main command at the import. Exit codes: 0 done, 2 bad arguments or an input file
that cannot be read at all (the message names the file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from interest_pipeline.importers import ADAPTERS, ImportInputError, ImportReport, import_dataset


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m interest_pipeline.importers",
        description="Turn a public recommender data set into daily event files, items.csv and import_rejects.csv.",
    )
    parser.add_argument("format", choices=sorted(ADAPTERS), help="the data set's format")
    parser.add_argument("paths", nargs="+", type=Path, help="input files of the data set (.gz accepted), any order")
    parser.add_argument("--out", type=Path, default=Path("data/landing"), help="output folder [data/landing]")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = import_dataset(args.format, args.paths, args.out)
    except ImportInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.to_json())
    print_next_steps(report)
    return 0


def print_next_steps(report: ImportReport) -> None:
    """What to set before ``python -m interest_pipeline run`` (stderr, so stdout stays one JSON document)."""
    settings = report.settings()
    if not settings:
        return
    lines = "".join(f"\n  export {name}={value}" for name, value in settings.items())
    print(
        f"partition grain: {report.partition_grain} ({report.partition_grain_reason})\n"
        f"to build the interest model on this import, set:{lines}\nthen run: python -m interest_pipeline run",
        file=sys.stderr,
    )


if __name__ == "__main__":
    raise SystemExit(main())
