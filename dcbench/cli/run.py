"""``dcbench run``: one DeepCluster run, or a grid when an axis gets several values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from dcbench.cli.grid import ExecutorOptions, execute_grid, executor_settings
from dcbench.errors import ConfigError

# Axes that accept comma-separated values (a grid); the type converts each value.
AXES: dict[str, type] = {
    "dataset": str,
    "preprocess": str,
    "backbone": str,
    "clusterer": str,
    "k": int,
    "epochs": int,
    "batch_size": int,
    "lr": float,
    "wd": float,
    "pca_dim": int,
    "image_size": int,
    "augment": str,
    "seed": int,
}


def parse_axis(name: str, raw: str | None) -> list[Any] | None:
    """``"10,30"`` -> ``[10, 30]`` for an axis; ``None`` when the option was not given."""
    if raw is None:
        return None
    convert = AXES[name]
    values = []
    for part in raw.split(","):
        text = part.strip()
        if not text:
            continue
        try:
            values.append(convert(text))
        except ValueError:
            option = "--" + name.replace("_", "-")
            raise ConfigError(f"{option} expects {convert.__name__} values, got {text!r}") from None
    if not values:
        raise ConfigError(f"--{name.replace('_', '-')} was given no value")
    return values


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        dataset: str = typer.Option(None, help="Data set plugin [default: digits]."),
        data: Path = typer.Option(None, help="Data folder (for imagefolder)."),
        preprocess: str = typer.Option(None, help="sobel or color [paper: sobel]."),
        backbone: str = typer.Option(None, help="alexnet, vgg16, small-cnn, timm:<name>."),
        clusterer: str = typer.Option(None, help="kmeans or pic [default: kmeans]."),
        k: str = typer.Option(None, "--k", help="Clusters for k-means [paper: 10000]."),
        evaluator: list[str] = typer.Option(None, "--evaluator", help="Evaluator(s) [nmi]."),
        epochs: str = typer.Option(None, help="Training epochs [paper: 200]."),
        batch_size: str = typer.Option(None, help="Batch size [256]."),
        lr: str = typer.Option(None, help="Learning rate [0.05]."),
        wd: str = typer.Option(None, help="Weight decay [1e-5]."),
        pca_dim: str = typer.Option(None, help="PCA dimensions, 0 = off [256]."),
        image_size: str = typer.Option(None, help="Image side in pixels [224]."),
        augment: str = typer.Option(
            None, help="crop-flip (paper), affine (small data) or none [crop-flip]."
        ),
        seed: str = typer.Option(None, help="Random seed [31]."),
        eval_every: int = typer.Option(None, help="Run all evaluators every N epochs."),
        supervised: bool = typer.Option(
            None, "--supervised", help="Baseline: train on the true labels instead."
        ),
        device: str = typer.Option("auto", help="auto, cpu or cuda[:N]."),
        workers: int = typer.Option(0, help="Data-loader worker processes."),
        out: Path = typer.Option(Path("results"), help="Results folder."),
        opt: list[str] = typer.Option(None, "--opt", help="Component option KEY=VALUE."),
        force: bool = typer.Option(False, help="Run again even if already done."),
        checkpoint: bool = typer.Option(True, help="Keep a checkpoint after each epoch."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
        executor: str = ExecutorOptions.executor,
        jobs: int = ExecutorOptions.jobs,
        scheduler: str = ExecutorOptions.scheduler,
        partition: str = ExecutorOptions.partition,
        time_limit: str = ExecutorOptions.time,
        gpus: int = ExecutorOptions.gpus,
        threads: int = ExecutorOptions.threads,
    ) -> None:
        """Run DeepCluster; several comma-separated values on an axis run a grid.

        Defaults in [paper: ...] are the reference code's; a data set's measured
        recipe (digits has one) replaces those you do not set, and is printed.
        """
        from dcbench.cli.progress import RichReporter
        from dcbench.config import parse_options
        from dcbench.grid import GridSpec
        from dcbench.progress import SilentReporter
        from dcbench.runner import execute_run, prepare_run

        raw_axes = {
            "dataset": dataset, "preprocess": preprocess, "backbone": backbone,
            "clusterer": clusterer, "k": k, "epochs": epochs, "batch_size": batch_size,
            "lr": lr, "wd": wd, "pca_dim": pca_dim, "image_size": image_size, "augment": augment,
            "seed": seed,
        }  # fmt: skip
        axes = {name: parse_axis(name, raw) for name, raw in raw_axes.items()}
        fixed: dict[str, Any] = {
            "data": str(data) if data else None,
            "evaluators": tuple(evaluator) if evaluator else None,
            "eval_every": eval_every,
            "supervised": supervised,
            "device": device,
            "workers": workers,
            "out": str(out),
            "checkpoint": checkpoint,
            "options": parse_options(opt or ()),
        }
        if data is not None and not data.exists():
            raise ConfigError(f"--data {str(data)!r} does not exist")
        console = Console(stderr=True, soft_wrap=True)
        spec = GridSpec({name: tuple(v) for name, v in axes.items() if v is not None}, fixed)
        cells = spec.cells()
        name, options = executor_settings(
            {},
            executor,
            jobs=jobs,
            scheduler=scheduler,
            partition=partition,
            time=time_limit,
            gpus=gpus,
            threads=threads,
        )
        if len(cells) > 1 or name != "local" or options:
            execute_grid(cells, name, options, force=force, quiet=quiet, console=console)
            return
        cell = prepare_run(cells[0])
        config = cell.config
        if config.recipe_keys:
            shown = ", ".join(f"{k}={getattr(config, k)}" for k in config.recipe_keys)
            console.print(
                f"[dim]{config.dataset} recipe: {shown}[/dim]", highlight=False, soft_wrap=True
            )
        console.print(f"run {config.run_id} -> {Path(config.out) / config.run_id}", soft_wrap=True)
        if quiet:
            outcome = execute_run(cell, reporter=SilentReporter(), force=force)
        else:
            with RichReporter(config.epochs, console) as reporter:
                outcome = execute_run(cell, reporter=reporter, force=force)
        if outcome.state == "skipped":
            console.print(f"already done: {outcome.path} (use --force to run again)")
        else:
            console.print(f"done: results in {outcome.path}")
