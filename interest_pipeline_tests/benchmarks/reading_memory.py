"""Peak memory of ingesting one event file with ``load_log_date``, each in a fresh process.

    python -m interest_pipeline_tests.benchmarks.reading_memory [--megabytes 500] [--rows 1000000]
        [--cases nul-csv,nul-jsonl,header-nul-csv,rows-csv] [--folder DIR] [--cap-gb 16]

Cases: ``nul-csv`` and ``nul-jsonl`` are files of ``--megabytes`` MB of NUL bytes (garbage whose
memory must not follow its bytes), ``header-nul-csv`` the same after a valid CSV header (so that
the garbage is read as rows, not refused with the header), ``rows-csv`` a legitimate CSV of
``--rows`` rows. A first line
gives the memory of the interpreter with the package imported, for reference. Each case prints
its file size, the peak resident memory of its process (``ru_maxrss``), the seconds and what came
of it (the counts, or the file error). A process passing ``--cap-gb`` is stopped and shown as such.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOG_DATE = "2026-10-05"

CHILD = """
import datetime as dt, json, resource, sys, time
from pathlib import Path
from interest_pipeline.core.ingest.event_schema import EventFileError
from interest_pipeline.core.ingest.validation import load_log_date
start = time.perf_counter()
if sys.argv[1] == "-":
    outcome = "imports only"
else:
    try:
        r = load_log_date([Path(sys.argv[1])], dt.date.fromisoformat(sys.argv[2]))
        outcome = f"read {r.n_read:,}, accepted {r.n_accepted:,}, rejected {r.n_rejected:,}, duplicates {r.n_duplicates:,}"
        longest = max((len(v) for v in r.rejected["raw_row"]), default=0)
        outcome += f"; longest quarantine copy {longest:,} characters"
    except EventFileError as error:
        outcome = "file error: " + str(error).split(": ", 1)[-1][:100]
seconds = time.perf_counter() - start
print(json.dumps({"maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": seconds,
                  "outcome": outcome}))
"""

EVENT_TYPES = ("view", "click", "view", "favorite", "purchase", "view", "search", "rate")


HEADER = "event_id,user_id,item_id,event_type,timestamp,device,location,rating,text\n"


def write_nul_file(path: Path, megabytes: int, header: bool = False) -> None:
    block = b"\x00" * (1 << 20)
    with path.open("wb") as out:
        if header:
            out.write(HEADER.encode())
        for _ in range(megabytes):
            out.write(block)


def write_rows_csv(path: Path, rows: int) -> None:
    """A legitimate event file: about 52 bytes a row, some searches with a query, some ratings."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for k in range(rows):
            kind = EVENT_TYPES[k % len(EVENT_TYPES)]
            item = "" if kind == "search" else f"i{k % 20_000}"
            rating = "4" if kind == "rate" else ""
            text = "shoes" if kind == "search" else ""
            minute = k % 1440
            out.write(
                f"e{k},u{k % 50_000},{item},{kind},{LOG_DATE}T{minute // 60:02d}:{minute % 60:02d}:00Z,"
                f"web,DE,{rating},{text}\n"
            )


def _rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(path: Path | None, cap_gb: float) -> dict:
    """One fresh interpreter ingests ``path`` (None: imports only); stopped above ``cap_gb``."""
    args = [sys.executable, "-c", CHILD, str(path) if path else "-", LOG_DATE]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, _rss_mb(process.pid))
        if peak > cap_gb * 1024:
            process.kill()
            process.wait()
            return {"maxrss_mb": peak, "seconds": float("nan"), "outcome": f"stopped above {cap_gb:g} GB"}
        time.sleep(0.05)
    out, err = process.communicate()
    if process.returncode != 0:
        return {"maxrss_mb": peak, "seconds": float("nan"), "outcome": "failed: " + err.strip()[-300:]}
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=500, help="size of the NUL files in MB (default 500)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the legitimate CSV (default 1,000,000)")
    parser.add_argument(
        "--cases", default="nul-csv,nul-jsonl,header-nul-csv,rows-csv", help="comma-separated cases to run"
    )
    parser.add_argument("--folder", type=Path, help="where the files are written (default: a temporary folder)")
    parser.add_argument("--cap-gb", type=float, default=16.0, help="stop a process whose memory passes this")
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        print(f"{'case':14s} {'file MB':>9s} {'peak MB':>9s} {'seconds':>8s}  outcome", flush=True)
        base = measure(None, args.cap_gb)
        print(f"{'imports':14s} {'':>9s} {base['maxrss_mb']:>9.0f} {'':>8s}  {base['outcome']}", flush=True)
        for case in cases:
            suffix = ".jsonl" if case.endswith("jsonl") else ".csv"
            path = Path(folder) / f"events_{LOG_DATE}{suffix}"
            if case in ("nul-csv", "nul-jsonl", "header-nul-csv"):
                write_nul_file(path, args.megabytes, header=case.startswith("header"))
            elif case == "rows-csv":
                write_rows_csv(path, args.rows)
            else:
                raise SystemExit(f"unknown case {case!r} (use nul-csv, nul-jsonl, header-nul-csv, rows-csv)")
            size = path.stat().st_size / 1e6
            result = measure(path, args.cap_gb)
            print(
                f"{case:14s} {size:>9.1f} {result['maxrss_mb']:>9.0f} {result['seconds']:>8.1f}  {result['outcome']}",
                flush=True,
            )
            path.unlink()


if __name__ == "__main__":
    main()
