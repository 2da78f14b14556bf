"""A project's MLflow store follows the project when the folder is copied or moved.

MLflow keeps each experiment's artifact location as an absolute path. After ``cp -a project copy``
the copy's store still points at the original's ``mlflow-artifacts`` folder, and every new run of
the copy would write there. When the configured artifact folder holds the experiment's artifacts
(the copy brought them along) but the store points elsewhere, the store's locations are rewritten
to the configured folder: the experiment's, its runs' and its logged models'. MLflow has no call
for this; the SQLite store's own tables hold the three columns.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

# (table, column) of the SQLite store holding artifact locations, each row with an experiment_id.
_LOCATION_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
)


def local_path(location: str) -> Path | None:
    """The local folder of an artifact location (``file://`` URI or plain path); None for remote ones."""
    if location.startswith("file://"):
        return Path(unquote(urlparse(location).path))
    if "://" in location or not location:
        return None
    return Path(location)


def moved_location(stored: str, configured_folder: Path) -> str | None:
    """The location to store instead of ``stored`` when this project was copied or moved: the
    configured folder, when it exists and ``stored`` is a local folder elsewhere; else None."""
    stored_path = local_path(stored)
    here = configured_folder.resolve()
    if stored_path is None or stored_path.resolve() == here or not here.is_dir():
        return None
    return here.as_uri() if stored.startswith("file://") else str(here)


def relocate_experiment(database: Path, experiment_id: str, old: str, new: str) -> int:
    """Rewrite the prefix ``old`` to ``new`` in the experiment's artifact locations, in one
    transaction; returns the rows changed."""
    changed = 0
    with sqlite3.connect(database) as conn:  # commits on success, rolls back on error
        for table, column in _LOCATION_COLUMNS:
            exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()
            if not exists:
                continue
            changed += conn.execute(
                f"UPDATE {table} SET {column} = ? || substr({column}, length(?) + 1) "
                f"WHERE experiment_id = ? AND substr({column}, 1, length(?)) = ?",
                [new, old, int(experiment_id), old, old],
            ).rowcount
    return changed
