"""Command line: ``python -m interest_pipeline.importers FORMAT PATHS... --out data/landing/``.

Prints the import report as JSON. Exit codes: 0 done, 2 bad arguments or an input file
that cannot be read at all (the message names the file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from interest_pipeline.importers import ADAPTERS, ImportInputError, import_dataset


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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
