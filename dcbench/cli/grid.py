"""``dcbench grid GRID.toml``, the executor options, and the grid-level progress view.

``dcbench run`` with several values on an axis goes through :func:`execute_grid` too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from dcbench.grid import Cell, CellResult, GridReport, GridSpec, poll_cells

_STYLES = {"done": "green", "skipped": "cyan", "failed": "red", "interrupted": "yellow"}


class ExecutorOptions:
    """The executor options both ``run`` and ``grid`` take (``None`` = not given)."""

    executor = typer.Option(None, "--executor", "-x", help="local, dask or slurm [local].")
    jobs = typer.Option(None, "--jobs", "-j", help="Cells at once (worker processes).")
    scheduler = typer.Option(None, help="Dask scheduler address tcp://HOST:PORT.")
    partition = typer.Option(None, help="Slurm partition.")
    time = typer.Option(None, "--time", help="Slurm time limit per job (min or HH:MM:SS).")
    gpus = typer.Option(None, help="GPUs per Slurm job.")
    threads = typer.Option(
        None,
        "--threads",
        help="Compute threads per run [cores / jobs]. Float sums depend on it: compare "
        "tables across executors at equal --threads.",
    )


def executor_settings(
    defaults: Mapping[str, Any], name: str | None, **given: Any
) -> tuple[str, dict[str, Any]]:
    """The executor name and options: command-line values win over the grid file's."""
    options = {k: v for k, v in defaults.items() if k != "name"}
    options.update({k: v for k, v in given.items() if v is not None})
    return name or str(defaults.get("name", "local")), options


class GridProgress:
    """A live table: cells done / running / failed / pending and each running epoch.

    Polls the cells' ``status.json`` in a background thread, so it shows the same thing
    whether the cells run here, in worker processes or on Slurm nodes.
    """

    def __init__(self, cells: Sequence[Cell], console: Console, interval: float = 0.5):
        self.cells = list(cells)
        self.console = console
        self.interval = interval
        self.finished: dict[str, CellResult] = {}
        self.started = time.time()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._live = Live(console=console, transient=True, auto_refresh=False)
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> GridProgress:
        self.started = time.time()
        self._live.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._live.stop()

    def on_result(self, result: CellResult) -> None:
        with self._lock:
            self.finished[result.run_id] = result
        if result.state == "failed":
            self._live.console.print(f"[red]failed[/red] {result.run_id}: {result.error}")

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self._live.update(self.render(), refresh=True)

    def render(self) -> Group:
        with self._lock:
            finished = dict(self.finished)
        views = poll_cells(self.cells, self.started, finished)
        counts: dict[str, int] = {}
        for view in views:
            counts[view.state] = counts.get(view.state, 0) + 1
        order = ("done", "skipped", "running", "pending", "failed", "interrupted")
        head = Text(f"grid: {len(views)} cells  ")
        for state in order:
            if counts.get(state):
                head.append(f"{counts[state]} {state}  ", style=_STYLES.get(state, ""))
        running = [v for v in views if v.state == "running"]
        table = Table(box=None, show_header=bool(running), pad_edge=False)
        table.add_column("running cell")
        table.add_column("epoch", justify="right")
        for view in running:
            table.add_row(view.run_id, f"{min(view.epoch + 1, view.epochs)}/{view.epochs}")
        return Group(head, table)


def execute_grid(
    cell_settings: Sequence[Mapping[str, Any]],
    executor_name: str,
    executor_options: Mapping[str, Any],
    *,
    force: bool,
    quiet: bool,
    console: Console,
) -> GridReport:
    """Prepare, run and summarise a grid; raises ``typer.Exit(1)`` when a cell failed."""
    from dcbench.grid import create_executor, prepare_cells, run_grid

    executor = create_executor(executor_name, executor_options)
    grid = prepare_cells(cell_settings, force=force)
    total = len(grid.cells) + len(grid.failed)
    console.print(
        f"grid: {total} cells through executor {executor_name!r}"
        + (f" ({grid.duplicates} duplicates merged)" if grid.duplicates else ""),
        highlight=False,
    )
    if quiet:
        report = run_grid(grid, executor)
    else:
        with GridProgress(grid.cells, console) as progress:
            for result in grid.failed:
                progress.on_result(result)
            report = run_grid(grid, executor, on_result=progress.on_result)
    for result in report.results:
        if result.state == "failed":
            console.print(
                f"[red]failed[/red] {result.run_id}: {result.error} "
                f"(traceback: {Path(result.path) / 'error.txt'})",
                highlight=False,
            )
    console.print(report.summary_line(), highlight=False)
    if not report.ok:
        raise typer.Exit(1)
    return report


def register(app: typer.Typer) -> None:
    @app.command("grid")
    def grid(
        grid_file: Path = typer.Argument(..., help="Grid file (TOML): [axes], [fixed], ..."),
        executor: str = ExecutorOptions.executor,
        jobs: int = ExecutorOptions.jobs,
        scheduler: str = ExecutorOptions.scheduler,
        partition: str = ExecutorOptions.partition,
        time_limit: str = ExecutorOptions.time,
        gpus: int = ExecutorOptions.gpus,
        threads: int = ExecutorOptions.threads,
        out: Path = typer.Option(None, help="Results folder [the file's, or results]."),
        force: bool = typer.Option(False, help="Run finished cells again."),
        dry_run: bool = typer.Option(False, "--dry-run", help="List the cells; run nothing."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress view."),
    ) -> None:
        """Run every cell of a grid file; finished cells are skipped, others resumed."""
        spec = GridSpec.from_toml(grid_file)
        spec = spec.with_fixed(out=str(out) if out else None)
        cells = spec.cells()
        console = Console(stderr=True, soft_wrap=True)
        if dry_run:
            for settings in cells:
                typer.echo(" ".join(f"{k}={v}" for k, v in settings.items()))
            console.print(f"{len(cells)} cells", highlight=False)
            return
        name, options = executor_settings(
            spec.executor,
            executor,
            jobs=jobs,
            scheduler=scheduler,
            partition=partition,
            time=time_limit,
            gpus=gpus,
            threads=threads,
        )
        execute_grid(cells, name, options, force=force, quiet=quiet, console=console)
