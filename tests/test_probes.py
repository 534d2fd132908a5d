"""Linear probe and kNN: toy sets with known answers, splits, pooling, one end-to-end run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dcbench.components import EvalContext, ImageDataset
from dcbench.config import resolve_config
from dcbench.images import InMemoryImageDataset
from dcbench.plugins.probes import (
    make_knn,
    make_linear_probe,
    metric_name,
    pool_size,
    train_test_split,
    weighted_knn_predict,
)
from dcbench.runner import run

# --- splits and pooling -------------------------------------------------------------


def test_split_is_stratified_seeded_and_honours_the_data_sets_own() -> None:
    targets = np.repeat([0, 1, 2], [10, 20, 5])
    train, test = train_test_split(targets, None, 0.2, seed=3)
    assert np.bincount(targets[test]).tolist() == [2, 4, 1]
    assert sorted([*train, *test]) == list(range(35))
    again = train_test_split(targets, None, 0.2, seed=3)
    assert np.array_equal(test, again[1])
    assert not np.array_equal(test, train_test_split(targets, None, 0.2, seed=4)[1])
    mask = np.arange(35) >= 30
    train, test = train_test_split(targets, mask, 0.2, seed=3)
    assert test.tolist() == list(range(30, 35)) and len(train) == 30


def test_pool_size_keeps_layers_at_most_max_dims() -> None:
    assert pool_size(96, 54, 54, 9216) == (9, 9)  # AlexNet conv1 at 224 px: 7776 dims
    assert pool_size(256, 27, 27, 9216) == (6, 6)  # conv2: 9216, as the reference
    assert pool_size(64, 4, 4, 9216) == (4, 4)  # small maps are not upsampled
    assert pool_size(20_000, 3, 3, 9216) == (1, 1)


def test_metric_names_are_column_safe() -> None:
    assert metric_name("conv1") == "probe_conv1"
    assert metric_name("stages.2") == "probe_stages_2"


# --- kNN ----------------------------------------------------------------------------


def _unit(angles_degrees: list[float]) -> torch.Tensor:
    radians = torch.tensor(angles_degrees) * torch.pi / 180
    return torch.stack([radians.cos(), radians.sin()], dim=1)


def test_knn_weights_close_neighbours_by_temperature() -> None:
    # One class-0 neighbour at 0 deg (cosine 1), two class-1 ones at +-60 deg (0.5).
    train_x, train_y = _unit([0, 60, -60, 180]), torch.tensor([0, 1, 1, 0])
    test_x = _unit([0])
    # T = 0.07: exp(1/0.07) outweighs 2 exp(0.5/0.07); T = 10: 1.105 < 2 x 1.051.
    assert weighted_knn_predict(train_x, train_y, test_x, 2, k=3, temperature=0.07).item() == 0
    assert weighted_knn_predict(train_x, train_y, test_x, 2, k=3, temperature=10).item() == 1
    assert weighted_knn_predict(train_x, train_y, test_x, 2, k=1, temperature=10).item() == 0


def test_knn_on_two_well_separated_groups_in_chunks() -> None:
    train_x = _unit([-10, -5, 0, 5, 10, 80, 85, 90, 95, 100])
    train_y = torch.tensor([0] * 5 + [1] * 5)
    test_x = _unit([2, 88, -7, 97])
    predicted = weighted_knn_predict(train_x, train_y, test_x, 2, k=20, temperature=0.07, chunk=3)
    assert predicted.tolist() == [0, 1, 0, 1]  # k larger than the train set is capped


# --- evaluators on a tiny fake network ----------------------------------------------


class _TinyBackbone(nn.Module):
    """Probe 'pixels' is the (normalised) image itself; the output, channel means."""

    feature_dim = 3

    def __init__(self) -> None:
        super().__init__()
        self.pixels = nn.Identity()
        self.head_activation = nn.Identity()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pixels(images).mean(dim=(2, 3))

    def probe_layers(self) -> dict[str, nn.Module]:
        return {"pixels": self.pixels}


class _TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = _TinyBackbone()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)


def _colour_images(labels: np.ndarray, seed: int) -> InMemoryImageDataset:
    """Noisy 8 px images; the class decides which colour channel is bright."""
    rng = np.random.default_rng(seed)
    pixels = rng.normal(90, 25, size=(len(labels), 3, 8, 8))
    pixels[np.arange(len(labels)), labels % 3] += 70
    images = torch.from_numpy(np.clip(pixels, 0, 255).astype(np.uint8))
    return InMemoryImageDataset("colours", images, labels, int(labels.max()) + 1)


def _context(dataset: ImageDataset, targets: np.ndarray) -> EvalContext:
    settings = resolve_config({"image_size": 8, "batch_size": 64}).to_dict()
    return EvalContext(
        epoch=0,
        final=True,
        pseudo_labels=np.zeros(len(dataset), dtype=np.int64),
        previous_pseudo_labels=None,
        true_labels=targets,
        features=np.zeros((len(dataset), 2), dtype=np.float32),
        model=_TinyNet(),
        dataset=dataset,
        device="cpu",
        seed=5,
        settings=settings,
    )


def _values(metrics) -> dict[str, float]:
    return {m.name: m.value for m in metrics}


def test_probe_separates_a_linearly_separable_set_and_not_random_labels() -> None:
    labels = np.arange(300) % 3
    dataset = _colour_images(labels, seed=0)
    assert isinstance(dataset, ImageDataset)
    probe = make_linear_probe(epochs=15, max_dims=48)
    state = torch.get_rng_state()
    separable = _values(probe.evaluate(_context(dataset, labels)))
    assert torch.equal(state, torch.get_rng_state())  # the loop's augmentation RNG is untouched
    assert separable["probe_pixels"] >= 0.98 and separable["probe_best"] >= 0.98
    assert separable["eval_split_train"] == 240 and separable["eval_split_test"] == 60

    random_labels = np.random.default_rng(1).integers(0, 4, 300)
    chance = _values(probe.evaluate(_context(dataset, random_labels)))
    assert chance["probe_pixels"] < 0.45  # chance is 0.25 for 4 classes


def test_knn_evaluator_on_the_toy_set_and_on_random_labels() -> None:
    labels = np.arange(300) % 3
    dataset = _colour_images(labels, seed=0)
    knn = make_knn(k=10)
    assert _values(knn.evaluate(_context(dataset, labels)))["knn_top1"] >= 0.98
    random_labels = np.random.default_rng(1).integers(0, 4, 300)
    assert _values(knn.evaluate(_context(dataset, random_labels)))["knn_top1"] < 0.45


def test_probe_uses_the_data_sets_own_test_split() -> None:
    labels = np.arange(120) % 3
    dataset = _colour_images(labels, seed=2)
    dataset.test_mask = np.arange(120) >= 100
    metrics = _values(make_linear_probe(epochs=5).evaluate(_context(dataset, labels)))
    assert metrics["eval_split_train"] == 100 and metrics["eval_split_test"] == 20


# --- end to end ---------------------------------------------------------------------


def test_run_on_synthetic_reports_every_metric_with_its_direction(tmp_path: Path) -> None:
    outcome = run(
        {
            "dataset": "synthetic",
            "options": (
                "dataset.n_images=64",
                "dataset.image_size=16",
                "evaluator.linear-probe.epochs=5",
            ),
            "backbone": "small-cnn",
            "image_size": 16,
            "epochs": 1,
            "pca_dim": 8,
            "k": 4,
            "batch_size": 32,
            "evaluators": ("nmi", "clustering", "knn", "linear-probe"),
            "out": str(tmp_path),
        }
    )
    summary = pd.read_parquet(outcome.path / "summary.parquet")
    directions = dict(zip(summary["metric"], summary["higher_is_better"], strict=True))
    values = dict(zip(summary["metric"], summary["value"], strict=True))
    expected = [
        "probe_block1", "probe_block2", "probe_block3", "probe_best", "knn_top1",
        "cluster_nmi", "cluster_ami", "cluster_ari", "cluster_acc", "cluster_purity",
    ]  # fmt: skip
    for name in expected:
        assert bool(directions[name]) is True, name
        assert 0 <= values[name] <= 1 or name in {"cluster_ami", "cluster_ari"}, name
    assert values["probe_best"] == max(values[f"probe_block{i}"] for i in (1, 2, 3))
    assert values["cluster_nmi"] == pytest.approx(values["nmi_labels"])
    assert values["eval_split_test"] == 12  # round(0.2 x 16) = 3 of each of the 4 classes
    epochs = pd.read_parquet(outcome.path / "epochs.parquet")
    assert epochs["cluster_acc"].notna().all()  # per epoch
    assert epochs["knn_top1"].isna().tolist() == [True, False]  # final pass only
