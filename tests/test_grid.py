"""Grid specs, cells, failures, resuming after a kill, and the grid CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dcbench.errors import ConfigError, UnknownComponentError
from dcbench.grid import (
    Cell,
    CellResult,
    GridSpec,
    create_executor,
    poll_cells,
    prepare_cells,
    run_grid,
)
from dcbench.results import RunDirectory
from tests.cli_helpers import run_cli

TINY_TOML = """
[fixed]
dataset = "synthetic"
"dataset.n_images" = 64
"dataset.image_size" = 16
backbone = "small-cnn"
image_size = 16
pca_dim = 8
batch_size = 32
epochs = {epochs}
k = 4
out = "{out}"

[executor]
threads = 1
"""
TINY_ARGS = (
    "--dataset", "synthetic", "--opt", "dataset.n_images=64", "--opt", "dataset.image_size=16",
    "--backbone", "small-cnn", "--image-size", "16", "--pca-dim", "8", "--batch-size", "32",
    "--epochs", "1", "-q",
)  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny runs are fastest on one thread, and the CPU is shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_toml_axes_fixed_options_and_exclusions(tmp_path: Path) -> None:
    grid_file = _write(
        tmp_path / "grid.toml",
        """
description = "demo"
[axes]
clusterer = ["kmeans", "pic"]
k = [10, 30]
preprocess = ["sobel", "color"]
"dataset.noise" = [0.0, 0.1]
[fixed]
dataset = "synthetic"
epochs = 1
evaluators = ["nmi"]
options = { "dataset.n_images" = 64 }
[[exclude]]
clusterer = "pic"
k = 30
[[exclude]]
preprocess = "color"
"dataset.noise" = [0.1]
[executor]
name = "local"
jobs = 2
""",
    )
    spec = GridSpec.from_toml(grid_file)
    cells = spec.cells()
    # 2*2*2*2 = 16, minus pic at k=30 (4), minus color with noise 0.1 (4, one already gone)
    assert len(cells) == 16 - 4 - 4 + 1
    assert not any(c["clusterer"] == "pic" and c["k"] == 30 for c in cells)
    first = cells[0]
    assert first["evaluators"] == ("nmi",)
    assert first["options"] == (("dataset.n_images", 64), ("dataset.noise", 0.0))
    assert spec.executor == {"name": "local", "jobs": 2} and spec.description == "demo"
    assert len(spec.with_fixed(k=10).cells()) < len(cells)  # k is fixed, no longer an axis


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[axes]\nbackbon = ['alexnet']", "Did you mean 'backbone'"),
        ("[axes]\nk = []", "has no values"),
        ("[axes]\nk = [1]\n[[exclude]]\nseed = 1", "neither an axis nor a fixed"),
        ("[grid]\nk = 1", "unknown section"),
        ("[axes\nk = 1", "not valid TOML"),
        ("exclude = 3", "exclusions are tables"),
    ],
)
def test_grid_spec_mistakes_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GridSpec.from_toml(_write(tmp_path / "grid.toml", text))


def test_pic_cells_that_differ_only_in_k_are_merged(tmp_path: Path) -> None:
    spec = GridSpec.from_toml(_write(tmp_path / "g.toml", TINY_TOML.format(epochs=1, out=tmp_path)))
    spec = spec.with_fixed(k=None)
    spec = GridSpec({"clusterer": ("kmeans", "pic"), "k": (4, 8)}, spec.fixed)
    grid = prepare_cells(spec.cells())
    assert len(grid.cells) == 3 and grid.duplicates == 1
    assert sorted(c.config.k for c in grid.cells) == [0, 4, 8]


def test_unknown_component_in_a_grid_stops_before_anything_runs(tmp_path: Path) -> None:
    spec = GridSpec({"backbone": ("small-cnn", "vgg61")}, {"dataset": "synthetic"})
    with pytest.raises(UnknownComponentError, match="Did you mean vgg16"):
        prepare_cells(spec.cells())


def test_failing_cell_is_recorded_and_the_grid_goes_on(capsys, tmp_path: Path) -> None:
    result = run_cli(capsys, "run", *TINY_ARGS, "--k", "4,1000", "--out", str(tmp_path))
    assert result.code == 1
    assert "1 done, 0 skipped, 1 failed" in result.err
    failed = [RunDirectory(p) for p in tmp_path.iterdir() if "k1000" in p.name]
    assert len(failed) == 1
    assert failed[0].read_status()["state"] == "failed"
    error = failed[0].error_file.read_text()
    assert "larger than the number of images" in error and "Traceback" in error
    assert "error.txt" in result.err
    done = [RunDirectory(p) for p in tmp_path.iterdir() if "k4_" in p.name]
    assert done[0].is_done()
    # The table shows the failed cell too.
    table = run_cli(capsys, "compare", str(tmp_path), "--format", "csv")
    assert table.code == 0 and ",failed," in table.out and ",done," in table.out


def test_error_while_building_a_run_is_recorded(monkeypatch, tmp_path: Path) -> None:
    import dcbench.runner

    def broken(*args, **kwargs):
        raise RuntimeError("cannot build the clusterer")

    monkeypatch.setattr(dcbench.runner, "build_components", broken)
    spec = GridSpec.from_toml(_write(tmp_path / "g.toml", TINY_TOML.format(epochs=1, out=tmp_path)))
    report = run_grid(prepare_cells(spec.cells()), create_executor("local", {}))
    [result] = report.results
    assert result.state == "failed" and "cannot build the clusterer" in result.error
    run_dir = RunDirectory(Path(result.path))
    assert run_dir.read_status()["state"] == "failed"
    assert "Traceback" in run_dir.error_file.read_text()
    assert run_dir.config_file.exists()
    assert not report.ok and "1 failed" in report.summary_line()


def test_killed_grid_runs_only_the_missing_cells_again(capsys, tmp_path: Path) -> None:
    out = tmp_path / "results"
    grid_file = _write(
        tmp_path / "grid.toml",
        TINY_TOML.format(epochs=1, out=out) + "\n[axes]\nseed = [0, 1, 2, 3]\n",
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DCBENCH_DISABLE_AUTOLOAD": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from dcbench.cli import main; main()",
            "grid",
            str(grid_file),
            "-q",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    try:
        while not _done_runs(out) and time.time() < deadline and process.poll() is None:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    done_before = {p: p.stat().st_mtime_ns for p in _done_runs(out)}
    assert 1 <= len(done_before) < 4, "the grid should have been killed part-way"

    result = run_cli(capsys, "grid", str(grid_file), "-q")
    assert result.code == 0, result.err
    assert f"{4 - len(done_before)} done, {len(done_before)} skipped, 0 failed" in result.err
    assert len(_done_runs(out)) == 4
    for status, mtime in done_before.items():  # finished cells were not touched again
        assert status.stat().st_mtime_ns == mtime


def _done_runs(out: Path) -> list[Path]:
    found = []
    for status in out.glob("*/status.json"):
        try:
            if json.loads(status.read_text())["state"] == "done":
                found.append(status)
        except (OSError, ValueError):
            pass
    return found


def test_progress_view_reads_status_files(tmp_path: Path) -> None:
    spec = GridSpec({"seed": (0, 1, 2)}, {"dataset": "synthetic", "out": str(tmp_path),
                                          "epochs": 5, "k": 4, "dataset.n_images": 64})  # fmt: skip
    cells: list[Cell] = prepare_cells(spec.cells()).cells
    started = time.time()
    RunDirectory(cells[0].path).write_status("running", 2, 5)
    RunDirectory(cells[1].path).write_status("running", 1, 5, updated=started - 60)  # stale
    finished = {cells[2].run_id: CellResult(cells[2].run_id, str(cells[2].path), "done")}
    views = poll_cells(cells, started, finished)
    assert [(v.state, v.epoch) for v in views] == [("running", 2), ("pending", 1), ("done", 0)]

    from rich.console import Console

    from dcbench.cli.grid import GridProgress

    console = Console(record=True, width=120)
    progress = GridProgress(cells, console)
    progress.started = started
    progress.on_result(finished[cells[2].run_id])
    console.print(progress.render())
    text = console.export_text()
    assert "1 done" in text and "1 running" in text and "1 pending" in text
    assert f"{cells[0].run_id}" in text and "3/5" in text


def test_grid_cli_mistakes_exit_2(capsys, tmp_path: Path) -> None:
    missing = run_cli(capsys, "grid", str(tmp_path / "none.toml"))
    assert missing.code == 2 and "does not exist" in missing.err
    bad = _write(tmp_path / "bad.toml", "[axes]\nbackbone = ['small-cnn', 'vgg61']\n")
    typo = run_cli(capsys, "grid", str(bad), "--out", str(tmp_path))
    assert typo.code == 2 and "vgg61" in typo.err and "Traceback" not in typo.err
    engine = run_cli(capsys, "run", "--k", "4,8", "--executor", "local", "--scheduler", "tcp://x:1")
    assert engine.code == 2 and "does not take option" in engine.err


def test_dry_run_lists_cells(capsys, tmp_path: Path) -> None:
    grid_file = Path(__file__).parents[1] / "benchmarks" / "grids" / "ci_smoke.toml"
    result = run_cli(capsys, "grid", str(grid_file), "--dry-run")
    assert result.code == 0 and len(result.out.strip().splitlines()) == 8
    assert "8 cells" in result.err


def test_every_benchmark_grid_prepares() -> None:
    grids = sorted((Path(__file__).parents[1] / "benchmarks" / "grids").glob("*.toml"))
    assert {g.stem for g in grids} >= {"ci_smoke", "kmeans_vs_pic", "sobel_vs_color",
                                       "alexnet_vs_vgg16", "k_sweep"}  # fmt: skip
    for grid_file in grids:
        spec = GridSpec.from_toml(grid_file)
        assert spec.description
        cells = spec.cells()
        grid = prepare_cells([cells[0], cells[-1]])  # the extremes: checks names and sizes
        assert grid.cells and not grid.failed, grid_file
