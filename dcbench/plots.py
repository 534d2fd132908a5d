"""PNG figures for ``dcbench compare --plot DIR``.

Three kinds, as in the paper: a metric per epoch (its NMI curves), a metric against k
(its k sweep) and, per axis, a grouped bar chart. Seeds are averaged: lines show the
mean with a band of one standard deviation, bars carry error bars. Figures are drawn
on ``matplotlib.figure.Figure`` with the Agg canvas, so no display or global backend
is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

_MAX_LEGEND = 16


def _figure(width: float = 7.0, height: float = 4.5) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: Path) -> Path:
    from dcbench.results import atomic_write

    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))
    return path


def _label(keys: Sequence[str], values: Any) -> str:
    values = values if isinstance(values, tuple) else (values,)
    return ", ".join(f"{k}={_short(v)}" for k, v in zip(keys, values, strict=True)) or "all runs"


def _short(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _groups(frame: pd.DataFrame, keys: Sequence[str]) -> list[tuple[Any, pd.DataFrame]]:
    if not keys:
        return [((), frame)]
    return list(frame.groupby(list(keys), dropna=False, sort=True))


def _legend(axes: Any, count: int) -> None:
    if 0 < count <= _MAX_LEGEND:
        axes.legend(fontsize="small", frameon=False)


def plot_epochs(epochs: pd.DataFrame, metric: str, keys: Sequence[str], path: Path) -> Path:
    """The metric after each epoch, one line per configuration (mean over seeds)."""
    figure = _figure()
    axes = figure.add_subplot()
    groups = _groups(epochs.dropna(subset=[metric]), keys)
    for values, group in groups:
        curve = group.groupby("epoch")[metric].agg(["mean", "std"]).reset_index()
        axes.plot(curve["epoch"], curve["mean"], marker="o", ms=3, label=_label(keys, values))
        spread = curve["std"].fillna(0.0)
        axes.fill_between(curve["epoch"], curve["mean"] - spread, curve["mean"] + spread, alpha=0.2)
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} per epoch")
    axes.grid(alpha=0.3)
    _legend(axes, len(groups))
    return _save(figure, path)


def plot_against_k(runs: pd.DataFrame, metric: str, keys: Sequence[str], path: Path) -> Path:
    """The metric against the number of clusters k (log axis), one line per group."""
    figure = _figure()
    axes = figure.add_subplot()
    with_k = runs[pd.to_numeric(runs["k"], errors="coerce") > 0].dropna(subset=[metric])
    others = [k for k in keys if k != "k"]
    groups = _groups(with_k, others)
    for values, group in groups:
        sweep = group.groupby("k")[metric].agg(["mean", "std"]).reset_index()
        axes.errorbar(
            sweep["k"],
            sweep["mean"],
            yerr=sweep["std"].fillna(0.0),
            marker="o",
            capsize=3,
            label=_label(others, values),
        )
    axes.set_xscale("log")
    ks = sorted(with_k["k"].unique())
    axes.set_xticks(ks, [_short(k) for k in ks])
    axes.minorticks_off()
    axes.set_xlabel("k (clusters)")
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} against k")
    axes.grid(alpha=0.3, which="both")
    _legend(axes, len(groups))
    return _save(figure, path)


def plot_bars(runs: pd.DataFrame, metric: str, axis: str, hue: str | None, path: Path) -> Path:
    """Bars of the metric (mean over seeds, std as error bar) for each value of ``axis``,
    grouped by ``hue`` when given."""
    figure = _figure()
    axes = figure.add_subplot()
    data = runs.dropna(subset=[metric])
    keys = [axis, hue] if hue else [axis]
    stats = data.groupby(keys, dropna=False)[metric].agg(["mean", "std"]).reset_index()
    positions = sorted(stats[axis].unique(), key=_sort_key)
    hues = sorted(stats[hue].unique(), key=_sort_key) if hue else [None]
    width = 0.8 / len(hues)
    x = np.arange(len(positions))
    for i, hue_value in enumerate(hues):
        part = stats if hue is None else stats[stats[hue] == hue_value]
        means = [_pick(part, axis, p, "mean") for p in positions]
        errors = [_pick(part, axis, p, "std") for p in positions]
        axes.bar(
            x + (i - (len(hues) - 1) / 2) * width,
            means,
            width,
            yerr=np.nan_to_num(errors),
            capsize=3,
            label=None if hue is None else f"{hue}={_short(hue_value)}",
        )
    axes.set_xticks(x, [_short(p) for p in positions])
    axes.set_xlabel(axis)
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} by {axis}" + (f" and {hue}" if hue else ""))
    axes.grid(alpha=0.3, axis="y")
    if hue:
        _legend(axes, len(hues))
    return _save(figure, path)


def _pick(part: pd.DataFrame, axis: str, position: Any, stat: str) -> float:
    rows = part[part[axis] == position]
    return float(rows[stat].iloc[0]) if len(rows) else np.nan


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float | np.number) else (1, str(value))


def write_plots(
    runs: pd.DataFrame,
    epochs: pd.DataFrame,
    metric: str,
    axes: Sequence[str],
    out_dir: Path,
) -> list[Path]:
    """Every figure that the data supports; returns the files written.

    ``axes`` are the configuration axes (seeds excluded): lines and bars are grouped by
    them. The k sweep is drawn only when k-means runs with two or more k exist.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if metric in epochs and not epochs[metric].dropna().empty:
        keys = [a for a in axes if a in epochs]
        written.append(plot_epochs(epochs, metric, keys, out_dir / f"{metric}_per_epoch.png"))
    k = pd.to_numeric(runs["k"], errors="coerce") if "k" in runs else pd.Series(dtype=float)
    if k[k > 0].nunique() > 1:
        written.append(plot_against_k(runs, metric, axes, out_dir / f"{metric}_vs_k.png"))
    for axis in axes:
        others = [a for a in axes if a != axis and runs[a].nunique() > 1]
        hue = others[0] if others else None
        written.append(plot_bars(runs, metric, axis, hue, out_dir / f"{metric}_by_{axis}.png"))
    return written
