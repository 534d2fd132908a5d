"""Turn every run below a folder into one comparison table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dcbench.errors import DataError
from dcbench.results import AXIS_COLUMNS, load_metric_directions, load_runs, varying_axes

_DEFAULT_AXES = ("dataset", "backbone", "preprocess", "clusterer", "k", "epochs")


def comparison_table(directory: Path) -> pd.DataFrame:
    """One row per run: run id, the axes that vary (or the main ones), final metrics."""
    runs = load_runs(directory)
    if runs.empty:
        raise DataError(f"no runs found below {str(directory)!r}")
    axes = varying_axes(runs) or [a for a in _DEFAULT_AXES if a in runs]
    metrics = [m for m in load_metric_directions(directory) if m in runs]
    columns = ["run_id", *axes, "status", *metrics]
    sort_by = [a for a in axes if a in AXIS_COLUMNS] or ["run_id"]
    return runs[columns].sort_values(sort_by, kind="stable").reset_index(drop=True)


def render(table: pd.DataFrame, fmt: str) -> str:
    """Text for the terminal (``table``), ``csv`` or ``markdown``."""
    if fmt == "csv":
        return table.to_csv(index=False).rstrip("\n")
    rounded = table.round(4)
    if fmt == "markdown":
        return rounded.to_markdown(index=False)
    return rounded.to_string(index=False)
