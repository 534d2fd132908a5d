"""Every run below a folder as one table: per run, aggregated over seeds, or the best.

``comparison_table`` is the stable machine interface behind ``dcbench compare DIR
--format csv``: one row per run, ``run_id``, every axis column, ``status``, then the
final metrics. ``aggregate`` groups runs by chosen axes and reports each metric's mean,
standard deviation and count over the remaining runs (the seeds); ``best_per_group``
picks the best configuration in each group, using the metric's ``higher_is_better``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from dcbench.errors import ConfigError, DataError
from dcbench.results import AXIS_COLUMNS, load_metric_directions, load_runs, varying_axes

FORMATS = ("table", "csv", "markdown", "latex", "parquet")
_DEFAULT_AXES = ("dataset", "backbone", "preprocess", "clusterer", "k", "epochs")
_PREFERRED_METRICS = ("nmi_labels", "nmi_previous")


def _option_columns(runs: pd.DataFrame) -> list[str]:
    """Component-option columns ("dataset.n_images"), in a stable order."""
    return sorted(c for c in runs.columns if "." in c)


def metric_columns(directory: Path, runs: pd.DataFrame) -> list[str]:
    return [m for m in load_metric_directions(directory) if m in runs]


def load_table(directory: Path, where: Sequence[str] = ()) -> pd.DataFrame:
    """Every run below ``directory`` (settings, status, metrics), filtered by ``where``."""
    runs = load_runs(directory)
    if runs.empty:
        raise DataError(f"no runs found below {str(directory)!r}")
    filtered = apply_filters(runs, where)
    if filtered.empty:
        raise DataError(f"no run below {str(directory)!r} matches {' and '.join(where)}")
    return filtered.reset_index(drop=True)


def apply_filters(runs: pd.DataFrame, where: Iterable[str]) -> pd.DataFrame:
    """``key=value`` keeps matching runs, ``key!=value`` drops them; ``a,b`` is either.

    Values compare as text, so ``k=10`` matches the integer 10.
    """
    mask = pd.Series(True, index=runs.index)
    for condition in where:
        negate = "!=" in condition
        key, sep, raw = condition.partition("!=" if negate else "=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--where expects KEY=VALUE or KEY!=VALUE, got {condition!r}")
        if key not in runs:
            choices = ", ".join(c for c in runs.columns if c != "path")
            raise ConfigError(f"--where: no column {key!r}; columns: {choices}")
        wanted = {v.strip() for v in raw.split(",")}
        matches = runs[key].map(_as_text).isin(wanted)
        mask &= ~matches if negate else matches
    return runs[mask]


def _as_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def comparison_table(
    directory: Path, where: Sequence[str] = (), *, all_axes: bool = False
) -> pd.DataFrame:
    """One row per run: run id, the axes, status, then the final metrics.

    ``all_axes`` keeps every axis column (the stable CSV/parquet layout); otherwise only
    the axes that vary between the runs (or the main ones) are shown.
    """
    runs = load_table(directory, where)
    if all_axes:
        axes = [a for a in AXIS_COLUMNS if a in runs] + _option_columns(runs)
    else:
        axes = varying_axes(runs) + [
            c for c in _option_columns(runs) if runs[c].astype(str).nunique() > 1
        ]
        axes = axes or [a for a in _DEFAULT_AXES if a in runs]
    metrics = metric_columns(directory, runs)
    columns = ["run_id", *axes, "status", *metrics]
    if all_axes:
        columns.insert(columns.index("status") + 1, "schema_version")
    sort_by = [a for a in axes if a in AXIS_COLUMNS] or ["run_id"]
    return runs[columns].sort_values(sort_by, kind="stable").reset_index(drop=True)


def default_metric(metrics: Sequence[str]) -> str:
    for name in _PREFERRED_METRICS:
        if name in metrics:
            return name
    if not metrics:
        raise DataError("the runs hold no metrics yet (no summary.parquet)")
    return metrics[0]


def check_columns(runs: pd.DataFrame, names: Iterable[str], what: str) -> None:
    missing = [n for n in names if n not in runs]
    if missing:
        shown = ", ".join(c for c in runs.columns if c != "path")
        raise ConfigError(f"{what}: no column {', '.join(map(repr, missing))}; columns: {shown}")


def group_axes(runs: pd.DataFrame, by: Sequence[str] | None) -> list[str]:
    """The axes to group on: ``by``, or every varying axis except the seed."""
    if by:
        check_columns(runs, by, "--by")
        return list(by)
    axes = [a for a in varying_axes(runs) if a != "seed"]
    return axes or [a for a in ("dataset", "backbone") if a in runs][:1]


def aggregate(runs: pd.DataFrame, metrics: Sequence[str], by: Sequence[str]) -> pd.DataFrame:
    """Mean, std and count of each metric per group (count = runs with a value)."""
    check_columns(runs, metrics, "--metric")
    check_columns(runs, by, "--by")
    grouped = runs.groupby(list(by), dropna=False, sort=True)
    table = grouped[list(metrics)].agg(["mean", "std", "count"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    counts = [f"{m}_count" for m in metrics]
    table = table.rename(columns={counts[0]: "count"}).drop(columns=counts[1:])
    table["count"] = table["count"].astype(int)
    return table.reset_index()


def best_per_group(
    runs: pd.DataFrame,
    metric: str,
    by: Sequence[str],
    higher_is_better: bool,
) -> pd.DataFrame:
    """The best configuration (seeds averaged) within each ``by`` group, or overall."""
    config_axes = [a for a in varying_axes(runs) if a != "seed"]
    config_axes = list(dict.fromkeys([*by, *config_axes])) or group_axes(runs, None)
    configs = aggregate(runs, [metric], config_axes).dropna(subset=[f"{metric}_mean"])
    if configs.empty:
        raise DataError(f"no run has a value for {metric!r}")
    ordered = configs.sort_values(f"{metric}_mean", ascending=not higher_is_better, kind="stable")
    best = ordered.groupby(list(by), dropna=False).head(1) if by else ordered.head(1)
    return best.sort_values(list(by) or config_axes, kind="stable").reset_index(drop=True)


def metric_direction(directory: Path, metric: str) -> bool:
    return bool(load_metric_directions(directory).get(metric, True))


def render(table: pd.DataFrame, fmt: str) -> str:
    """Text for ``csv``, ``markdown``, ``latex`` or a plain ``table``."""
    if fmt == "csv":
        return table.to_csv(index=False).rstrip("\n")
    rounded = table.round(4)
    if fmt == "markdown":
        return rounded.to_markdown(index=False)
    if fmt == "latex":
        return rounded.to_latex(index=False, escape=True, float_format="%.4f").rstrip("\n")
    return rounded.to_string(index=False)


def write_output(table: pd.DataFrame, fmt: str, output: Path) -> None:
    """Write ``table`` to ``output`` in ``fmt`` (parquet is binary, the rest text)."""
    from dcbench.results import atomic_write

    if fmt == "parquet":
        atomic_write(output, lambda tmp: table.to_parquet(tmp, index=False))
    else:
        text = render(table, "table" if fmt == "table" else fmt) + "\n"
        atomic_write(output, lambda tmp: tmp.write_text(text))
