"""End-to-end runs through the library on tiny generated data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dcbench.progress import SilentReporter
from dcbench.results import RunDirectory
from dcbench.runner import execute_run, prepare_run

TINY = {
    "dataset": "synthetic",
    "options": ("dataset.n_images=96", "dataset.image_size=16"),
    "backbone": "small-cnn",
    "preprocess": "sobel",
    "k": 6,
    "epochs": 2,
    "batch_size": 32,
    "image_size": 16,
    "pca_dim": 16,
}


def _tables(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(path / "epochs.parquet"), pd.read_parquet(path / "summary.parquet")


def _timing_free(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame if c.startswith("seconds_")])


def test_run_writes_loadable_tables_and_config(tmp_path: Path) -> None:
    outcome = execute_run(prepare_run({**TINY, "out": str(tmp_path)}))
    assert outcome.state == "done"
    epochs, summary = _tables(outcome.path)
    assert list(epochs["epoch"]) == [0, 1, 2]
    assert np.isnan(epochs["train_loss"].iloc[-1]) and (epochs["train_loss"].iloc[:-1] > 0).all()
    for column in (
        "nmi_labels",
        "nmi_previous",
        "empty_clusters_fixed",
        "cluster_size_min",
        "cluster_size_median",
        "cluster_size_max",
        "seconds_features",
        "seconds_cluster",
        "seconds_train",
    ):
        assert column in epochs
    assert pd.read_csv(outcome.path / "epochs.csv").shape == epochs.shape
    directions = dict(zip(summary["metric"], summary["higher_is_better"], strict=True))
    assert directions["nmi_labels"] is True or directions["nmi_labels"] == 1
    meta = json.loads((outcome.path / "config.json").read_text())
    assert meta["config"]["k"] == 6 and meta["config"]["seed"] == 31
    assert {"torch", "faiss-cpu", "dcbench", "python"} <= set(meta["versions"])
    assert RunDirectory(outcome.path).is_done()
    assert not list(outcome.path.glob(".*tmp"))  # no temporary files left behind


def test_same_seed_same_numbers_and_finished_runs_are_skipped(tmp_path: Path) -> None:
    first = execute_run(prepare_run({**TINY, "out": str(tmp_path / "a")}))
    second = execute_run(prepare_run({**TINY, "out": str(tmp_path / "b")}))
    pd.testing.assert_frame_equal(
        _timing_free(_tables(first.path)[0]), _timing_free(_tables(second.path)[0])
    )
    again = execute_run(prepare_run({**TINY, "out": str(tmp_path / "a")}))
    assert again.state == "skipped"
    assert again.final["nmi_labels"] == pytest.approx(first.final["nmi_labels"])


class _KillAfterEpoch(SilentReporter):
    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def epoch_done(self, row) -> None:
        if row["epoch"] == self.epoch:
            raise KeyboardInterrupt


def test_killed_run_resumes_to_the_same_numbers(tmp_path: Path) -> None:
    settings = {**TINY, "epochs": 3}
    reference = execute_run(prepare_run({**settings, "out": str(tmp_path / "ref")}))
    prepared = prepare_run({**settings, "out": str(tmp_path / "killed")})
    with pytest.raises(KeyboardInterrupt):
        execute_run(prepared, reporter=_KillAfterEpoch(1))
    run_dir = RunDirectory(tmp_path / "killed" / prepared.run_id)
    assert run_dir.read_status()["state"] == "interrupted"
    assert len(pd.read_parquet(run_dir.path / "epochs.parquet")) == 2  # epochs 0 and 1 kept
    reporter = SilentReporter()
    resumed = execute_run(prepared, reporter=reporter)
    assert any("resuming" in note for note in reporter.notes)
    pd.testing.assert_frame_equal(
        _timing_free(_tables(reference.path)[0]), _timing_free(_tables(resumed.path)[0])
    )


def test_epochs_zero_is_the_random_baseline(tmp_path: Path) -> None:
    outcome = execute_run(prepare_run({**TINY, "epochs": 0, "out": str(tmp_path)}))
    epochs, _ = _tables(outcome.path)
    assert list(epochs["epoch"]) == [0] and np.isnan(epochs["train_loss"].iloc[0])


def test_pic_ignores_k_in_the_run_id(tmp_path: Path) -> None:
    a = prepare_run({**TINY, "clusterer": "pic", "k": 6, "out": str(tmp_path)})
    b = prepare_run({**TINY, "clusterer": "pic", "k": 50, "out": str(tmp_path)})
    assert a.run_id == b.run_id and a.config.k == 0
    outcome = execute_run(a)
    epochs, _ = _tables(outcome.path)
    assert (epochs["num_clusters"] > 1).all()


def test_supervised_baseline_trains_on_true_labels(tmp_path: Path) -> None:
    prepared = prepare_run({"supervised": True, "epochs": 2, "out": str(tmp_path)})
    assert "supervised" in prepared.run_id
    outcome = execute_run(prepared)
    epochs, _ = _tables(outcome.path)
    # Digits are easy once labels are given: the loss falls far below ln(10) = 2.30.
    assert epochs["train_loss"].iloc[1] < 1.0
    assert epochs["nmi_labels"].iloc[-1] > epochs["nmi_labels"].iloc[0]
