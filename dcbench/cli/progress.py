"""Terminal progress for runs: a bar per phase and one summary line per epoch."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dcbench.progress import Advance

_SHOWN_METRICS = ("nmi_labels", "nmi_previous")


def format_epoch(row: Mapping[str, Any], epochs: int) -> str:
    """``epoch 3/8  loss 2.310  nmi_labels 0.612 ...`` (the final pass says ``final``)."""
    epoch = row["epoch"]
    head = "final     " if epoch == epochs else f"epoch {epoch + 1}/{epochs}"
    parts = [head]
    loss = row.get("train_loss", math.nan)
    if not math.isnan(loss):
        parts.append(f"loss {loss:.3f}")
    for name in _SHOWN_METRICS:
        if name in row and not math.isnan(row[name]):
            parts.append(f"{name} {row[name]:.3f}")
    extra = [k for k in row if k.startswith(("knn", "probe", "cluster_acc", "ari", "ami"))]
    parts += [f"{k} {row[k]:.3f}" for k in extra if isinstance(row[k], float)]
    parts.append(f"clusters {row['num_clusters']}")
    parts.append(f"empty fixed {row['empty_clusters_fixed']}")
    timings = [
        f"{key.removeprefix('seconds_')} {row[key]:.1f}s"
        for key in ("seconds_features", "seconds_cluster", "seconds_train", "seconds_evaluate")
        if row.get(key)
    ]
    return "  ".join(parts) + "  | " + " ".join(timings)


class RichReporter:
    """Draws transient progress bars on stderr; epoch lines stay."""

    def __init__(self, epochs: int, console: Console | None = None, label: str = "") -> None:
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.epochs = epochs
        self.label = label
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    @contextmanager
    def phase(self, name: str, total: int | None) -> Iterator[Advance]:
        task = self.progress.add_task(f"{self.label}{name}", total=total)
        try:
            yield lambda n: self.progress.advance(task, n)
        finally:
            self.progress.remove_task(task)

    def epoch_done(self, row: Mapping[str, Any]) -> None:
        self.console.print(
            f"{self.label}{format_epoch(row, self.epochs)}", highlight=False, soft_wrap=True
        )

    def note(self, text: str) -> None:
        self.console.print(f"{self.label}note: {text}", highlight=False)
