"""The vectorised batch transforms used for in-memory data sets."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dcbench.augment import eval_batch, train_batch, train_thetas
from dcbench.config import resolve_config


def _config(**overrides):
    base = {"image_size": 16, "center_crop_ratio": 1.0, "hflip": False, "augment": "none"}
    return resolve_config({**base, **overrides})


def _images(count: int = 4, size: int = 8) -> torch.Tensor:
    return torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8)


def test_eval_batch_resizes_crops_and_normalises() -> None:
    images = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    out = eval_batch(images, _config(center_crop_ratio=1.25))
    assert out.shape == (2, 3, 16, 16)
    expected = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(out[0, :, 5, 5], expected)


def test_no_augmentation_equals_evaluation_view() -> None:
    images = _images()
    config = _config()
    generator = torch.Generator().manual_seed(0)
    torch.testing.assert_close(
        train_batch(images, config, generator), eval_batch(images, config), atol=1e-5, rtol=0
    )


def test_flip_mirrors_images() -> None:
    images = _images(size=16)
    config = _config(hflip=True)
    theta = train_thetas(64, config, torch.Generator().manual_seed(0))
    flipped = theta[:, 0, 0] < 0
    assert 10 < int(flipped.sum()) < 54  # about half
    out = train_batch(images[:1].expand(64, -1, -1, -1), config, torch.Generator().manual_seed(0))
    reference = eval_batch(images[:1], config)[0]
    torch.testing.assert_close(out[flipped][0], reference.flip(-1), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[~flipped][0], reference, atol=1e-5, rtol=0)


def test_crop_boxes_stay_inside_the_image_with_the_requested_area() -> None:
    config = _config(augment="crop-flip", crop_scale=0.3)
    theta = train_thetas(2000, config, torch.Generator().manual_seed(1))
    width, height = theta[:, 0, 0].abs(), theta[:, 1, 1]
    centre_x, centre_y = theta[:, 0, 2], theta[:, 1, 2]
    assert (width <= 1 + 1e-6).all() and (height <= 1 + 1e-6).all()
    assert ((centre_x.abs() + width) <= 1 + 1e-5).all()
    assert ((centre_y.abs() + height) <= 1 + 1e-5).all()
    area = width * height
    assert area.min() >= 0.3 - 1e-5 and area.max() <= 1 + 1e-5


def test_affine_parameters_match_the_recipe_ranges() -> None:
    theta = train_thetas(4000, _config(augment="affine"), torch.Generator().manual_seed(2))
    linear = theta[:, :, :2]
    scale = 1 / torch.linalg.det(linear).sqrt()
    assert scale.min() >= 0.9 - 1e-4 and scale.max() <= 1.1 + 1e-4
    angle = torch.atan2(linear[:, 0, 1], linear[:, 0, 0]).rad2deg()
    assert angle.abs().max() <= 10 + 1e-3 and angle.abs().max() > 9
    shift = -torch.linalg.solve(linear, theta[:, :, 2])
    assert shift.abs().max() <= 0.2 + 1e-4


@pytest.mark.parametrize("augment", ["crop-flip", "affine", "none"])
def test_batches_are_deterministic_per_seed(augment: str) -> None:
    config = dataclasses.replace(_config(), augment=augment, hflip=True)
    images = _images()
    first = train_batch(images, config, torch.Generator().manual_seed(5))
    again = train_batch(images, config, torch.Generator().manual_seed(5))
    torch.testing.assert_close(first, again)
    assert first.shape == (4, 3, 16, 16)
