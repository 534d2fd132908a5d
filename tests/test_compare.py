"""``dcbench compare``: tables per run and per group, filters, best view, formats, plots."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dcbench.compare import aggregate, best_per_group, comparison_table, load_table
from dcbench.results import AXIS_COLUMNS, RunDirectory, write_json, write_table
from tests.cli_helpers import run_cli

# (clusterer, k, preprocess, seed) -> final nmi_labels; loss falls as nmi rises.
FINAL = {
    ("kmeans", 10, "sobel", 0): 0.50, ("kmeans", 10, "sobel", 1): 0.54,
    ("kmeans", 30, "sobel", 0): 0.60, ("kmeans", 30, "sobel", 1): 0.64,
    ("kmeans", 10, "color", 0): 0.30, ("kmeans", 10, "color", 1): 0.34,
    ("kmeans", 30, "color", 0): 0.40, ("kmeans", 30, "color", 1): 0.44,
    ("pic", 0, "sobel", 0): 0.45, ("pic", 0, "sobel", 1): 0.47,
}  # fmt: skip


def _fake_run(root: Path, clusterer: str, k: int, preprocess: str, seed: int, nmi: float) -> None:
    run_id = f"digits_small-cnn_{preprocess}_{clusterer}_k{k}_s{seed}"
    run = RunDirectory(root / run_id)
    settings = {"dataset": "digits", "backbone": "small-cnn", "preprocess": preprocess,
                "clusterer": clusterer, "k": k, "epochs": 2, "image_size": 32, "lr": 0.05,
                "batch_size": 64, "pca_dim": 32, "seed": seed, "evaluators": ["nmi"],
                "options": [["dataset.noise", 0.1]]}  # fmt: skip
    run.write_config(run_id, settings, "cpu")
    run.write_status("done", 2, 2)
    epochs = pd.DataFrame(
        {"epoch": [0, 1, 2], "nmi_labels": [nmi - 0.2, nmi - 0.1, nmi],
         "train_loss": [2.0, 1.5, float("nan")], "seconds_train": [1.0, 1.0, 0.0]}
    )  # fmt: skip
    write_table(run.path / "epochs", epochs)
    summary = pd.DataFrame(
        {"metric": ["nmi_labels", "final_train_loss"], "value": [nmi, 2.0 - nmi],
         "higher_is_better": [True, False]}
    )  # fmt: skip
    write_table(run.path / "summary", summary)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    for (clusterer, k, preprocess, seed), nmi in FINAL.items():
        _fake_run(root / "grid_a", clusterer, k, preprocess, seed, nmi)
    # An older run: schema 0 (no schema_version, no options, no summary) that failed.
    old = root / "grid_old" / "digits_alexnet_sobel_kmeans_k10_old"
    write_json(old / "config.json", {"run_id": old.name, "config": {
        "dataset": "digits", "backbone": "alexnet", "preprocess": "sobel",
        "clusterer": "kmeans", "k": 10, "seed": 0}})  # fmt: skip
    RunDirectory(old).write_status("failed", 1, 2, error="boom")
    return root


def test_one_row_per_run_with_every_axis_then_metrics(results: Path) -> None:
    table = comparison_table(results, all_axes=True)
    assert len(table) == 11
    columns = list(table.columns)
    assert columns[0] == "run_id"
    assert columns[1 : 1 + len(AXIS_COLUMNS)] == list(AXIS_COLUMNS)
    assert columns[-2:] == ["nmi_labels", "final_train_loss"]
    assert "dataset.noise" in columns and "schema_version" in columns
    old = table[table["backbone"] == "alexnet"].iloc[0]
    assert old["status"] == "failed" and old["schema_version"] == 0
    assert pd.isna(old["nmi_labels"])


def test_aggregate_over_seeds(results: Path) -> None:
    runs = load_table(results, ["status=done"])
    table = aggregate(runs, ["nmi_labels"], ["clusterer", "k", "preprocess"])
    row = table[(table["k"] == 30) & (table["preprocess"] == "sobel")].iloc[0]
    assert row["nmi_labels_mean"] == pytest.approx(0.62)
    assert row["nmi_labels_std"] == pytest.approx(pd.Series([0.60, 0.64]).std())
    assert row["count"] == 2 and len(table) == 5


def test_filters(results: Path) -> None:
    assert len(load_table(results, ["clusterer=kmeans"])) == 9
    assert len(load_table(results, ["clusterer=kmeans", "k=30"])) == 4
    assert len(load_table(results, ["k!=10"])) == 6
    assert len(load_table(results, ["preprocess=sobel,color", "seed=1"])) == 5
    assert len(load_table(results, ["dataset.noise=0.1"])) == 10


def test_best_uses_the_metric_direction(results: Path) -> None:
    runs = load_table(results, ["status=done"])
    best = best_per_group(runs, "nmi_labels", ["preprocess"], higher_is_better=True)
    by_pre = best.set_index("preprocess")
    assert by_pre.loc["sobel", "k"] == 30 and by_pre.loc["sobel", "clusterer"] == "kmeans"
    assert by_pre.loc["sobel", "nmi_labels_mean"] == pytest.approx(0.62)
    worst_loss = best_per_group(runs, "final_train_loss", [], higher_is_better=False)
    assert len(worst_loss) == 1 and worst_loss.iloc[0]["final_train_loss_mean"] == pytest.approx(
        2.0 - 0.62
    )


def test_cli_table_by_metric(capsys, results: Path) -> None:
    result = run_cli(capsys, "compare", str(results), "--metric", "nmi_labels",
                     "--by", "clusterer,preprocess", "--where", "status=done")  # fmt: skip
    assert result.code == 0, result.err
    assert "nmi_labels_mean" in result.out and "0.62" not in result.out  # k is averaged here
    lines = [line for line in result.out.splitlines() if "kmeans" in line and "sobel" in line]
    assert len(lines) == 1 and "0.57" in lines[0] and "4" in lines[0]


def test_cli_best_markdown(capsys, results: Path) -> None:
    result = run_cli(capsys, "compare", str(results), "--best", "--by", "clusterer",
                     "--metric", "final_train_loss", "--format", "markdown")  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.startswith("| clusterer")
    assert "1.38" in result.out  # lowest loss for kmeans: 2 - 0.62


@pytest.mark.parametrize("fmt", ["csv", "markdown", "latex", "parquet", "table"])
def test_cli_formats_and_output_files(capsys, results: Path, tmp_path: Path, fmt: str) -> None:
    output = tmp_path / f"table.{fmt}"
    result = run_cli(capsys, "compare", str(results), "--format", fmt, "--output", str(output))
    assert result.code == 0, result.err
    if fmt == "parquet":
        assert len(pd.read_parquet(output)) == 11
    elif fmt == "csv":
        assert len(pd.read_csv(output)) == 11
    else:
        text = output.read_text()
        assert "nmi" in text and ("tabular" in text if fmt == "latex" else True)


def test_csv_on_stdout_is_the_machine_interface(capsys, results: Path) -> None:
    result = run_cli(capsys, "compare", str(results), "--format", "csv")
    from io import StringIO

    table = pd.read_csv(StringIO(result.out))
    assert len(table) == 11 and {"run_id", "k", "seed", "nmi_labels", "status"} <= set(table)


def test_cli_mistakes_exit_2(capsys, results: Path) -> None:
    cases = [
        (("--format", "parquet"), "--output"),
        (("--where", "colour=red"), "no column 'colour'"),
        (("--where", "clusterer"), "KEY=VALUE"),
        (("--by", "colour"), "no column 'colour'"),
        (("--metric", "accuracy"), "no column 'accuracy'"),
        (("--where", "clusterer=dbscan"), "no run below"),
    ]
    for args, message in cases:
        result = run_cli(capsys, "compare", str(results), *args)
        assert result.code == 2 and message in result.err, (args, result.err)


def test_plots_are_written(capsys, results: Path, tmp_path: Path) -> None:
    plots = tmp_path / "plots"
    result = run_cli(capsys, "compare", str(results), "--where", "status=done",
                     "--plot", str(plots), "--format", "csv")  # fmt: skip
    assert result.code == 0, result.err
    names = sorted(p.name for p in plots.iterdir())
    assert names == [
        "nmi_labels_by_clusterer.png",
        "nmi_labels_by_k.png",
        "nmi_labels_by_preprocess.png",
        "nmi_labels_per_epoch.png",
        "nmi_labels_vs_k.png",
    ]
    for png in plots.iterdir():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "plot:" in result.err


def test_config_json_keeps_a_schema_version(results: Path) -> None:
    meta = json.loads(next(results.glob("grid_a/*/config.json")).read_text())
    assert meta["schema_version"] >= 1
