"""Vectorised transforms for data sets held in memory as one uint8 tensor.

Per-image torchvision transforms cost ~0.3-1 ms each in Python, more than the small
CNN's forward pass on a 32 px image. For in-memory data every image has the same
size, so a whole batch is transformed at once on the training device: each image's
random crop / affine / flip becomes one 2x3 matrix and a single ``grid_sample`` call
resamples the batch. The parameters follow torchvision's ``RandomResizedCrop``,
``RandomAffine`` and ``RandomHorizontalFlip``; resampling is bilinear.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dcbench.config import RunConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def _normalise(images: torch.Tensor) -> torch.Tensor:
    return (images - _MEAN.to(images.device)) / _STD.to(images.device)


def _resize_centre(images: torch.Tensor, config: RunConfig) -> torch.Tensor:
    """uint8 -> [0, 1] floats resized to ``image_size * center_crop_ratio``, centre-cropped."""
    size, resize = config.image_size, config.eval_resize
    pixels = images.float() / 255.0
    if tuple(pixels.shape[-2:]) != (resize, resize):
        downsampling = resize < max(pixels.shape[-2:])
        pixels = F.interpolate(
            pixels, size=(resize, resize), mode="bilinear", align_corners=False,
            antialias=downsampling,
        ).clamp(0, 1)  # fmt: skip
    offset = (resize - size) // 2
    return pixels[..., offset : offset + size, offset : offset + size]


def eval_batch(images: torch.Tensor, config: RunConfig) -> torch.Tensor:
    """Resize to ``image_size * center_crop_ratio``, centre-crop, normalise."""
    return _normalise(_resize_centre(images, config))


def _crop_boxes(
    count: int, scale: tuple[float, float], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """RandomResizedCrop boxes as fractions of the image: centre (cx, cy), size (w, h).

    Ten attempts per image as torchvision; images with no valid attempt get the whole
    image (torchvision's fallback is a centre crop at the clamped ratio: close enough).
    """
    attempts = 10
    area = torch.empty(count, attempts).uniform_(*scale, generator=generator)
    log_ratio = torch.empty(count, attempts).uniform_(
        math.log(3 / 4), math.log(4 / 3), generator=generator
    )
    ratio = log_ratio.exp()
    width = (area * ratio).sqrt()
    height = (area / ratio).sqrt()
    valid = (width <= 1) & (height <= 1)
    first = torch.where(valid.any(1), valid.float().argmax(1), torch.full((count,), -1))
    rows = torch.arange(count)
    w = torch.where(first >= 0, width[rows, first.clamp(min=0)], torch.ones(count))
    h = torch.where(first >= 0, height[rows, first.clamp(min=0)], torch.ones(count))
    cx = (1 - w) * torch.rand(count, generator=generator) + w / 2
    cy = (1 - h) * torch.rand(count, generator=generator) + h / 2
    return cx, cy, w, h


def train_thetas(count: int, config: RunConfig, generator: torch.Generator) -> torch.Tensor:
    """One 2x3 sampling matrix per image, mapping output coordinates to input ones."""
    theta = torch.zeros(count, 2, 3)
    if config.augment == "crop-flip":
        cx, cy, w, h = _crop_boxes(count, (config.crop_scale, 1.0), generator)
        theta[:, 0, 0], theta[:, 1, 1] = w, h
        theta[:, 0, 2], theta[:, 1, 2] = 2 * cx - 1, 2 * cy - 1
    elif config.augment == "affine":
        # RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)), inverted:
        # input = (R(angle) * s)^-1 (output - shift).
        angle = torch.empty(count).uniform_(-10, 10, generator=generator).deg2rad()
        scale = torch.empty(count).uniform_(0.9, 1.1, generator=generator)
        shift = torch.empty(count, 2).uniform_(-0.2, 0.2, generator=generator)  # 10% of 2
        cos, sin = angle.cos() / scale, angle.sin() / scale
        theta[:, 0, 0], theta[:, 0, 1] = cos, sin
        theta[:, 1, 0], theta[:, 1, 1] = -sin, cos
        theta[:, :, 2] = -torch.einsum("nij,nj->ni", theta[:, :, :2], shift)
    else:
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    if config.hflip:
        flip = torch.rand(count, generator=generator) < 0.5
        theta[flip, :, 0] = -theta[flip, :, 0]
    return theta


def train_batch(
    images: torch.Tensor, config: RunConfig, generator: torch.Generator
) -> torch.Tensor:
    """Augment a uint8 batch ``(B, 3, H, W)`` into normalised ``(B, 3, S, S)`` floats."""
    size = config.image_size
    # Crops read the native image; the other modes resize as evaluation does first.
    if config.augment == "crop-flip":
        pixels = images.float() / 255.0
    else:
        pixels = _resize_centre(images, config)
    theta = train_thetas(len(images), config, generator).to(images.device)
    grid = F.affine_grid(theta, [len(images), 3, size, size], align_corners=False)
    # Zero padding is black, as torchvision's fill=0 on uint8 images.
    out = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return _normalise(out)
