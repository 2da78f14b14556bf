"""Which files in a landing folder are new since the last look (pure, for the sensor)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from interest_pipeline.core.ingest.event_files import is_in_progress, log_date_of


@dataclass(frozen=True)
class LandedFile:
    name: str
    log_date: dt.date
    identity: str  # changes when the file is replaced or rewritten


def file_identity(path: Path) -> str:
    """Modification time and size, and the inode's change time and number: a file corrected in
    place to the same size with its modification time set back (``touch -d``) still changes its
    change time, which no user can set, and a file replaced by a rename gets another inode."""
    stat = path.stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}:{stat.st_ctime_ns}:{stat.st_ino}"


def scan_landing_folder(folder: Path, seen: dict[str, str]) -> tuple[list[LandedFile], list[str], dict[str, str]]:
    """New or changed event files, names that are not event files, and the updated record.

    Files whose name starts with '.' or ends with '.tmp'/'.part' are still being written
    (producers should write under such a name and rename when done) and are left for later;
    symbolic links are never followed (the ingest step skips the same files).
    ``seen`` maps file name -> identity of every file already handed out.
    """
    if not folder.is_dir():
        return [], [], dict(seen)
    new, ignored, record = [], [], dict(seen)
    for path in sorted(folder.iterdir()):
        if is_in_progress(path) or path.is_symlink() or not path.is_file():
            continue
        identity = file_identity(path)
        if record.get(path.name) == identity:
            continue
        record[path.name] = identity
        log_date = log_date_of(path)
        if log_date is None:
            ignored.append(path.name)
        else:
            new.append(LandedFile(path.name, log_date, identity))
    return new, ignored, record
