"""The same 2x2x2 grid through every executor gives the same tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dcbench.compare import comparison_table
from dcbench.errors import ConfigError
from dcbench.grid import GridSpec, create_executor, prepare_cells, run_grid
from dcbench.plugins.executors import parse_minutes
from dcbench.results import load_epochs

GRID = GridSpec(
    axes={"preprocess": ("sobel", "color"), "clusterer": ("kmeans", "pic"), "seed": (0, 1)},
    fixed={
        "dataset": "synthetic",
        "dataset.n_images": 64,
        "dataset.image_size": 16,
        "backbone": "small-cnn",
        "image_size": 16,
        "pca_dim": 8,
        "batch_size": 32,
        "epochs": 1,
        "k": 4,
    },
)


def _tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-run and per-epoch tables without timings or paths (they differ by nature)."""
    runs = comparison_table(out, all_axes=True)
    epochs = load_epochs(out).sort_values(["run_id", "epoch"]).reset_index(drop=True)
    drop = lambda frame: frame.drop(columns=[c for c in frame if c.startswith("seconds_")])  # noqa: E731
    return drop(runs), drop(epochs)


def _run(name: str, options: dict, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    grid = prepare_cells(GRID.with_fixed(out=str(out)).cells())
    seen = []
    report = run_grid(grid, create_executor(name, options), on_result=seen.append)
    assert report.counts()["done"] == 8 and report.ok, report.results
    assert sorted(r.run_id for r in seen) == sorted(c.run_id for c in grid.cells)
    assert [r.run_id for r in report.results] == [c.run_id for c in grid.cells]  # grid order
    return _tables(out)


@pytest.fixture(scope="module")
def sequential(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    # One thread everywhere: the shared CPU stays usable and every executor computes alike.
    return _run("local", {"threads": 1}, tmp_path_factory.mktemp("sequential"))


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("local", {"jobs": 2}),
        ("dask", {"jobs": 2}),
        ("slurm", {"cluster": "local", "jobs": 1}),
    ],
    ids=["local-jobs2", "dask-localcluster", "submitit-local"],
)
def test_every_executor_gives_the_sequential_tables(
    sequential: tuple[pd.DataFrame, pd.DataFrame], name: str, options: dict, tmp_path: Path
) -> None:
    runs, epochs = _run(name, options, tmp_path)
    assert len(runs) == 8 and (runs["status"] == "done").all()
    pd.testing.assert_frame_equal(runs, sequential[0])
    pd.testing.assert_frame_equal(
        epochs.drop(columns="run_id"), sequential[1].drop(columns="run_id")
    )


def test_slurm_debug_cluster_runs_in_process_and_skips_done_cells(tmp_path: Path) -> None:
    spec = GRID.with_fixed(out=str(tmp_path), preprocess="sobel", clusterer="kmeans")
    first = run_grid(prepare_cells(spec.cells()), create_executor("slurm", {"cluster": "debug"}))
    again = run_grid(prepare_cells(spec.cells()), create_executor("slurm", {"cluster": "debug"}))
    assert first.counts()["done"] == 2 and again.counts()["skipped"] == 2


def test_executor_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="does not take option"):
        create_executor("local", {"scheduler": "tcp://127.0.0.1:1"})
    with pytest.raises(ConfigError, match="jobs must be an integer"):
        create_executor("local", {"jobs": 0})
    with pytest.raises(ConfigError, match="fork hangs"):
        create_executor("local", {"jobs": 2, "start_method": "fork"})
    with pytest.raises(ConfigError, match="tcp://HOST:PORT"):
        create_executor("dask", {"scheduler": "localhost"})
    with pytest.raises(ConfigError, match="cluster must be"):
        create_executor("slurm", {"cluster": "pbs"})


def test_missing_engine_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_engines(name, *args, **kwargs):
        if name.split(".")[0] in {"dask", "submitit"}:
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_engines)
    cells = prepare_cells(GRID.with_fixed(out=str(tmp_path)).cells()[:1]).cells
    with pytest.raises(ConfigError, match=r"pip install dcbench\[dask\]"):
        create_executor("dask", {}).run_cells(cells, lambda r: None)
    with pytest.raises(ConfigError, match=r"pip install dcbench\[slurm\]"):
        create_executor("slurm", {"cluster": "local"}).run_cells(cells, lambda r: None)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [(90, 90), ("90", 90), ("1:30:00", 90), ("10:30", 11), ("1-00", 1440), ("1-02:00:00", 1560)],
)
def test_slurm_time_limits(text: object, minutes: int) -> None:
    assert parse_minutes(text) == minutes


def test_bad_slurm_time_limit() -> None:
    with pytest.raises(ConfigError, match="--time"):
        parse_minutes("soon")
