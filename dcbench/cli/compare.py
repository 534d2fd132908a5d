"""``dcbench compare DIR``: every run below DIR as one table."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer


class TableFormat(str, Enum):
    table = "table"
    csv = "csv"
    markdown = "markdown"


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare(
        directory: Path = typer.Argument(Path("results"), help="Folder holding run folders."),
        format: TableFormat = typer.Option(TableFormat.table, "--format", "-f"),
    ) -> None:
        """One row per run: the axes that vary, then the final metrics."""
        from dcbench.compare import comparison_table, render

        table = comparison_table(directory)
        typer.echo(render(table, format.value))
