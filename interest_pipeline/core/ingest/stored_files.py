"""A run replaces a log date's stored rows only with what that date's files now say.

The warehouse knows which file each stored row came from. A file that held stored rows and is no
longer found (moved away, a mistyped landing folder) or now holds no rows at all (truncated to
nothing, a header alone) would silently shrink its day; that is an error, as a vanished events
folder already is. A file that still holds rows says what its day is, fewer rows included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import polars as pl


def lost_stored_files(
    stored: pl.DataFrame,
    files_by_date: Mapping[dt.date, Sequence[Path]],
    rows_per_file: Mapping[str, int],
    stored_name: Callable[[str], str] = str,
) -> list[str]:
    """One line per stored file whose rows a run would drop without its file saying so.

    ``stored``: ``log_date``, ``source_file`` (as stored) and ``rows`` (stored rows from it);
    ``files_by_date``: this run's files; ``rows_per_file``: rows read per file path (str);
    ``stored_name``: how a file's path is written into ``source_file`` (masking, for one); the lines
    name files that way too, so a masked name is not revealed by the error.
    Files are matched by name, so a file moved between the landing and events folders is the same file.
    """
    problems = []
    for log_date, source_file, rows in stored.sort("log_date", "source_file").iter_rows():
        if log_date not in files_by_date or not rows:
            continue
        present = {Path(stored_name(str(path))).name: path for path in files_by_date[log_date]}
        name = Path(source_file).name
        if name not in present:
            problems.append(
                f"log date {log_date}: {name} held {rows:,d} stored row(s) and is no longer in the events or landing folder"
            )
        elif rows_per_file.get(str(present[name]), 0) == 0:
            problems.append(
                f"log date {log_date}: {stored_name(str(present[name]))} held {rows:,d} stored row(s) and now holds none "
                "(empty, or a header alone)"
            )
    return problems
