"""``dcbench compare DIR``: every run below DIR as one table, aggregated, filtered, plotted."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer


class TableFormat(str, Enum):
    table = "table"
    csv = "csv"
    markdown = "markdown"
    latex = "latex"
    parquet = "parquet"


def _split(values: str | None) -> list[str]:
    return [v.strip() for v in (values or "").split(",") if v.strip()]


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare(
        directory: Path = typer.Argument(Path("results"), help="Folder holding run folders."),
        format: TableFormat = typer.Option(TableFormat.table, "--format", "-f"),
        metric: str = typer.Option(
            None, help="Metric(s) to aggregate, comma-separated [nmi_labels]."
        ),
        by: str = typer.Option(
            None, help="Axes to group by, comma-separated [the varying axes except seed]."
        ),
        where: list[str] = typer.Option(
            None, "--where", "-w", help="Filter KEY=VALUE or KEY!=VALUE (repeatable)."
        ),
        best: bool = typer.Option(False, "--best", help="Best configuration per --by group."),
        output: Path = typer.Option(None, "--output", "-o", help="Write the table to FILE."),
        plot: Path = typer.Option(None, "--plot", help="Write PNG figures into this folder."),
    ) -> None:
        """One row per run (axes, then final metrics); --metric/--by average the seeds."""
        from dcbench import compare as cmp
        from dcbench.errors import ConfigError

        fmt = format.value
        if fmt == "parquet" and output is None:
            raise ConfigError("--format parquet writes a binary file: add --output FILE")
        filters = list(where or ())
        metrics = _split(metric)
        by_axes = _split(by)
        aggregated = bool(metrics or by_axes or best)
        if not aggregated:
            table = cmp.comparison_table(directory, filters, all_axes=fmt in {"csv", "parquet"})
        else:
            runs = cmp.load_table(directory, filters)
            metrics = metrics or [cmp.default_metric(cmp.metric_columns(directory, runs))]
            if best:
                if len(metrics) > 1:
                    raise ConfigError("--best ranks by one metric; give a single --metric")
                higher = cmp.metric_direction(directory, metrics[0])
                table = cmp.best_per_group(runs, metrics[0], by_axes, higher)
            else:
                table = cmp.aggregate(runs, metrics, cmp.group_axes(runs, by_axes))
        if output is not None:
            cmp.write_output(table, fmt, output)
            typer.echo(f"wrote {output}", err=True)
        elif fmt == "table":
            _print_rich(table)
        else:
            typer.echo(cmp.render(table, fmt))
        if plot is not None:
            _write_plots(directory, filters, metrics, by_axes, plot)

    def _print_rich(table) -> None:
        from rich.console import Console
        from rich.table import Table

        view = Table(show_edge=False, header_style="bold")
        for column in table.columns:
            numeric = table[column].dtype.kind in "if"
            view.add_column(str(column), justify="right" if numeric else "left")
        for row in table.round(4).itertuples(index=False):
            view.add_row(*("" if _missing(v) else str(v) for v in row))
        console = Console()
        if not console.is_terminal:  # a pipe or file: never squeeze columns to 80 chars
            shown = table.round(4).astype(str)
            widths = [max([len(str(c)), *shown[c].str.len()]) for c in table.columns]
            console = Console(width=max(80, sum(widths) + 3 * len(widths) + 2))
        console.print(view)

    def _missing(value: object) -> bool:
        return value is None or (isinstance(value, float) and value != value)

    def _write_plots(
        directory: Path, filters: list[str], metrics: list[str], by_axes: list[str], out: Path
    ) -> None:
        from dcbench import compare as cmp
        from dcbench.plots import write_plots
        from dcbench.results import load_epochs

        runs = cmp.load_table(directory, filters)
        metric = metrics[0] if metrics else cmp.default_metric(cmp.metric_columns(directory, runs))
        epochs = load_epochs(directory)
        if not epochs.empty:
            epochs = epochs[epochs["run_id"].isin(runs["run_id"])]
        axes = cmp.group_axes(runs, by_axes)
        for path in write_plots(runs, epochs, metric, axes, out):
            typer.echo(f"plot: {path}", err=True)
