"""Helpers for what a person sees in the Dagster UI: markdown tables and pictures."""

from __future__ import annotations

import polars as pl


def markdown_table(frame: pl.DataFrame, max_rows: int = 10, max_chars: int = 60) -> str:
    """A small markdown preview for Dagster metadata (long values shortened)."""
    shown = frame.head(max_rows)
    header = "| " + " | ".join(shown.columns) + " |\n|" + "---|" * len(shown.columns)
    lines = []
    for row in shown.iter_rows():
        cells = []
        for value in row:
            text = "" if value is None else str(value)
            text = text.replace("|", "\\|").replace("\n", " ")
            cells.append(text if len(text) <= max_chars else text[: max_chars - 1] + "…")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([header, *lines])
