"""Helpers for what a person sees in the Dagster UI: markdown tables and pictures."""

from __future__ import annotations

import math

import polars as pl


def format_cell(value, digits: int = 3, labels: dict[str, str] | None = None) -> str:
    """A cell as a person reads it: floats rounded to ``digits`` decimals, lists joined, a node id
    followed by its label when ``labels`` has one."""
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        text = f"{value:.{digits}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, (list, tuple)):
        return ", ".join(format_cell(v, digits, labels) for v in value)
    text = str(value)
    if labels and text in labels and labels[text]:
        return f"{text} ({labels[text]})"
    return text


def markdown_table(
    frame: pl.DataFrame, max_rows: int = 10, max_chars: int = 60, digits: int = 3, labels: dict[str, str] | None = None
) -> str:
    """A small markdown preview for Dagster metadata: long values shortened, floats rounded, node ids
    shown with their label (``labels``: node id -> label)."""
    shown = frame.head(max_rows)
    header = "| " + " | ".join(shown.columns) + " |\n|" + "---|" * len(shown.columns)
    lines = []
    for row in shown.iter_rows():
        cells = []
        for value in row:
            text = format_cell(value, digits, labels).replace("|", "\\|").replace("\n", " ")
            cells.append(text if len(text) <= max_chars else text[: max_chars - 1] + "…")
        lines.append("| " + " | ".join(cells) + " |")
    more = [f"\n{frame.height - max_rows:,} more rows"] if frame.height > max_rows else []
    return "\n".join([header, *lines, *more])
