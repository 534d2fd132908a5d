"""Vectorised batch transforms (dcbench.augment) against per-image torchvision v2.

The per-image pipeline (data.train_transform / eval_transform, then torch.stack) is
what any on-disk data set takes; in-memory data takes one grid_sample per batch. The
data: 1797 digits-like uint8 8x8 images (3 channels), to 32 px as the digits recipe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from dcbench.augment import eval_batch, train_batch
from dcbench.config import RunConfig, resolve_config
from dcbench.data import eval_transform, train_transform

N_IMAGES = 1797
TRAIN_BATCH = 32  # the digits recipe's batch size
EVAL_BATCH = 256  # feature_batches' minimum
ROUNDS = 3


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (N_IMAGES, 3, 8, 8), dtype=torch.uint8, generator=generator)


def _config(augment: str) -> RunConfig:
    return resolve_config(
        {"image_size": 32, "center_crop_ratio": 1.0, "augment": augment, "hflip": True}
    )


def _per_image(images: torch.Tensor, transform: Callable, batch: int) -> list[torch.Tensor]:
    """One pass over the data the DataLoader way: transform each image, stack a batch."""
    return [
        torch.stack([transform(image) for image in images[start : start + batch]])
        for start in range(0, len(images), batch)
    ]


def _vectorised(images: torch.Tensor, transform: Callable, batch: int) -> list[torch.Tensor]:
    return [transform(images[start : start + batch]) for start in range(0, len(images), batch)]


def _bench(benchmark: Any, group: str, run: Callable[[], list[torch.Tensor]]) -> None:
    benchmark.group = group
    batches = benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    assert sum(len(b) for b in batches) == N_IMAGES
    assert batches[0].shape[1:] == (3, 32, 32)
    benchmark.extra_info["images"] = N_IMAGES


@pytest.mark.parametrize("augment", ["affine", "crop-flip"])
def test_torchvision_train(
    benchmark: Any, images: torch.Tensor, augment: str, same_run: Any
) -> None:
    transform = train_transform(_config(augment))
    torch.manual_seed(0)  # v2 draws from the global generator
    _bench(benchmark, f"train {augment}", lambda: _per_image(images, transform, TRAIN_BATCH))
    same_run.baseline(benchmark)


@pytest.mark.parametrize("augment", ["affine", "crop-flip"])
def test_dcbench_train_batch(
    benchmark: Any, images: torch.Tensor, augment: str, same_run: Any
) -> None:
    config = _config(augment)
    generator = torch.Generator().manual_seed(0)

    def transform(batch: torch.Tensor) -> torch.Tensor:
        return train_batch(batch, config, generator)

    _bench(benchmark, f"train {augment}", lambda: _vectorised(images, transform, TRAIN_BATCH))
    same_run.dcbench(benchmark)


def test_torchvision_eval(benchmark: Any, images: torch.Tensor, same_run: Any) -> None:
    transform = eval_transform(_config("none"))
    _bench(benchmark, "eval", lambda: _per_image(images, transform, EVAL_BATCH))
    same_run.baseline(benchmark)


def test_dcbench_eval_batch(benchmark: Any, images: torch.Tensor, same_run: Any) -> None:
    config = _config("none")
    _bench(
        benchmark,
        "eval",
        lambda: _vectorised(images, lambda batch: eval_batch(batch, config), EVAL_BATCH),
    )
    same_run.dcbench(benchmark)
