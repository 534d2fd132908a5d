"""The results contract: one folder per run, atomic writes, and loading them back.

``results/<run_id>/`` holds ``config.json`` (every setting, versions, host),
``status.json`` (running / done / failed, epoch), ``epochs.parquet|csv`` (one row per
epoch), ``summary.parquet|csv`` (one row per final metric, with ``higher_is_better``),
``checkpoint.pt`` (the run state after the last finished epoch) and, for a failed run,
``error.txt``. Every file is written to a temporary name and renamed, so a killed run
never leaves half a file behind.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from dcbench.errors import DataError

log = logging.getLogger("dcbench")

SCHEMA_VERSION = 1
AXIS_COLUMNS = (
    "dataset",
    "backbone",
    "preprocess",
    "clusterer",
    "k",
    "epochs",
    "image_size",
    "lr",
    "batch_size",
    "pca_dim",
    "seed",
)
_VERSIONED_PACKAGES = ("dcbench", "torch", "torchvision", "timm", "faiss-cpu", "numpy", "pandas")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    text = json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_table(stem: Path, frame: pd.DataFrame) -> None:
    """``stem.parquet`` and ``stem.csv``, each atomically."""
    atomic_write(stem.with_suffix(".parquet"), lambda tmp: frame.to_parquet(tmp, index=False))
    atomic_write(stem.with_suffix(".csv"), lambda tmp: frame.to_csv(tmp, index=False))


def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass(frozen=True)
class RunDirectory:
    """Paths and writers for one run's folder."""

    path: Path

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def status_file(self) -> Path:
        return self.path / "status.json"

    @property
    def checkpoint_file(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def error_file(self) -> Path:
        return self.path / "error.txt"

    def write_config(
        self, run_id: str, settings: Mapping[str, Any], device: str, threads: int | None = None
    ) -> None:
        write_json(
            self.config_file,
            {
                "schema_version": SCHEMA_VERSION,
                "run_id": run_id,
                "config": dict(settings),
                "device_used": device,
                # Float sums (and so k-means) depend on the thread count: keep it.
                "compute_threads": threads,
                "versions": package_versions(),
                "host": socket.gethostname(),
                "platform": platform.platform(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )

    def write_status(self, state: str, epoch: int, epochs: int, **extra: Any) -> None:
        payload = {"state": state, "epoch": epoch, "epochs": epochs, "updated": time.time()}
        write_json(self.status_file, {**payload, **extra})

    def read_status(self) -> dict[str, Any]:
        if not self.status_file.exists():
            return {}
        return json.loads(self.status_file.read_text())

    def read_config(self) -> dict[str, Any]:
        return json.loads(self.config_file.read_text())

    def is_done(self) -> bool:
        return self.read_status().get("state") == "done"


def find_runs(root: Path) -> list[RunDirectory]:
    """Every run folder below ``root`` (any depth), sorted by path."""
    if not root.exists():
        raise DataError(f"results folder {str(root)!r} does not exist")
    return [RunDirectory(p.parent) for p in sorted(root.rglob("config.json"))]


def _settings_row(run: RunDirectory) -> dict[str, Any]:
    meta = run.read_config()
    settings = meta.get("config", {})
    row: dict[str, Any] = {"run_id": meta.get("run_id", run.path.name)}
    for key, value in settings.items():
        row[key] = ",".join(map(str, value)) if isinstance(value, list | tuple) else value
    # Component options also get a column each ("dataset.n_images"), so they can be
    # filtered and grouped on like any other setting.
    for pair in settings.get("options") or ():
        if isinstance(pair, list | tuple) and len(pair) == 2 and str(pair[0]) not in row:
            row[str(pair[0])] = pair[1]
    row["status"] = run.read_status().get("state", "unknown")
    row["schema_version"] = meta.get("schema_version", 0)
    row["dcbench_version"] = meta.get("versions", {}).get("dcbench", "?")
    row["path"] = str(run.path)
    return row


def _readable_runs(root: Path) -> list[tuple[RunDirectory, dict[str, Any]]]:
    """Each run with its settings row; a folder whose config cannot be read is skipped
    with a warning instead of hiding every other run."""
    readable = []
    for run in find_runs(root):
        try:
            readable.append((run, _settings_row(run)))
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("skipping %s: unreadable config.json (%s)", run.path, exc)
    return readable


def load_runs(root: Path) -> pd.DataFrame:
    """One row per run: its settings, status and final metrics (wide)."""
    rows = []
    for run, row in _readable_runs(root):
        summary = run.path / "summary.parquet"
        if summary.exists():
            for record in pd.read_parquet(summary).to_dict("records"):
                row[record["metric"]] = record["value"]
        rows.append(row)
    return pd.DataFrame(rows)


def load_epochs(root: Path) -> pd.DataFrame:
    """Every run's per-epoch table, stacked, with the run's axes as columns."""
    frames = []
    for run, settings in _readable_runs(root):
        table = run.path / "epochs.parquet"
        if not table.exists():
            continue
        frame = pd.read_parquet(table)
        for key in reversed(("run_id", *AXIS_COLUMNS)):
            if key in settings and key not in frame:
                frame.insert(0, key, settings[key])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_metric_directions(root: Path) -> dict[str, bool]:
    """Metric name -> higher is better, from every summary below ``root``."""
    directions: dict[str, bool] = {}
    for run in find_runs(root):
        summary = run.path / "summary.parquet"
        if summary.exists():
            frame = pd.read_parquet(summary, columns=["metric", "higher_is_better"])
            directions.update(zip(frame["metric"], frame["higher_is_better"], strict=True))
    return directions


def varying_axes(runs: pd.DataFrame) -> list[str]:
    """The axis columns whose values differ between runs (a grid's axes)."""
    return [c for c in AXIS_COLUMNS if c in runs and runs[c].astype(str).nunique() > 1]
