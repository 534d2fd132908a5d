"""Torch datasets and transforms around a component :class:`ImageDataset`.

Two views of the same images, as in the reference code: a deterministic one for
feature extraction (resize + centre crop) and an augmented one for training on
pseudo-labels (``--augment``). In-memory data takes the vectorised batch versions in
:mod:`dcbench.augment`; other data goes through per-image torchvision transforms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from dcbench.augment import IMAGENET_MEAN, IMAGENET_STD, eval_batch, train_batch
from dcbench.components import ImageDataset
from dcbench.config import RunConfig

Transform = Callable[[torch.Tensor], torch.Tensor]


def _to_normalised_float() -> list[Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]


def eval_transform(config: RunConfig) -> Transform:
    """Resize to ``image_size * center_crop_ratio``, centre-crop ``image_size``."""
    return v2.Compose(
        [
            v2.Resize(config.eval_resize, antialias=True),
            v2.CenterCrop(config.image_size),
            *_to_normalised_float(),
        ]
    )


def train_transform(config: RunConfig) -> Transform:
    """Training augmentation.

    ``crop-flip`` is the paper's random-resized crop (scale from ``crop_scale``);
    ``affine`` resizes like evaluation, then jitters (10 degrees, 10% shift and scale),
    which the digits recipe needs: crops of 8x8 digits destroy them.
    """
    size = config.image_size
    steps: list[Transform]
    if config.augment == "crop-flip":
        steps = [v2.RandomResizedCrop(size, scale=(config.crop_scale, 1.0), antialias=True)]
    else:
        steps = [v2.Resize(config.eval_resize, antialias=True), v2.CenterCrop(size)]
        if config.augment == "affine":
            steps.append(v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)))
    if config.hflip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose([*steps, *_to_normalised_float()])


class IndexedImages(Dataset):
    """Yields ``(image, index)`` in the order of ``indices``, for feature extraction."""

    def __init__(self, images: ImageDataset, indices: np.ndarray, transform: Transform) -> None:
        self.images = images
        self.indices = indices
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, int]:
        index = int(self.indices[position])
        return self.transform(self.images.get_image(index)), index


class PseudoLabelledImages(Dataset):
    """Yields ``(augmented image, pseudo-label)`` for the sampled indices of one epoch."""

    def __init__(
        self,
        images: ImageDataset,
        indices: np.ndarray,
        pseudo_labels: np.ndarray,
        transform: Transform,
    ) -> None:
        self.images = images
        self.indices = indices
        self.pseudo_labels = pseudo_labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, int]:
        index = int(self.indices[position])
        return self.transform(self.images.get_image(index)), int(self.pseudo_labels[index])


def is_tensor_backed(images: ImageDataset) -> bool:
    """In-memory data (one uint8 tensor) takes the vectorised batch transforms."""
    stored = getattr(images, "images", None)
    return isinstance(stored, torch.Tensor) and stored.ndim == 4 and stored.dtype == torch.uint8


def feature_batches(
    images: ImageDataset,
    order: np.ndarray,
    config: RunConfig,
    device: torch.device,
    seed: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(indices, normalised images on device)`` in ``order``, for feature extraction.

    Evaluation batches are at least 256 images: the batch size changes no number in
    eval mode, and bigger batches amortise per-call overhead.
    """
    batch_size = max(config.batch_size, 256)
    if is_tensor_backed(images):
        stored = images.images  # type: ignore[attr-defined]
        for start in range(0, len(order), batch_size):
            indices = torch.as_tensor(order[start : start + batch_size])
            yield indices, eval_batch(stored[indices].to(device), config)
        return
    dataset = IndexedImages(images, order, eval_transform(config))
    for batch, indices in make_loader(dataset, batch_size, config.workers, seed):
        yield indices, batch.to(device, non_blocking=True)


def training_batches(
    images: ImageDataset,
    indices: np.ndarray,
    targets: np.ndarray,
    config: RunConfig,
    device: torch.device,
    seed: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(augmented images, targets)`` on device for the sampled ``indices``, in order."""
    if is_tensor_backed(images):
        stored = images.images  # type: ignore[attr-defined]
        generator = torch.Generator().manual_seed(seed)
        all_targets = torch.as_tensor(targets)
        for start in range(0, len(indices), config.batch_size):
            chosen = torch.as_tensor(indices[start : start + config.batch_size])
            batch = train_batch(stored[chosen].to(device), config, generator)
            yield batch, all_targets[chosen].to(device)
        return
    dataset = PseudoLabelledImages(images, indices, targets, train_transform(config))
    for batch, batch_targets in make_loader(dataset, config.batch_size, config.workers, seed):
        yield batch.to(device, non_blocking=True), batch_targets.to(device, non_blocking=True)


def make_loader(dataset: Dataset, batch_size: int, workers: int, seed: int) -> DataLoader:
    """A loader in the dataset's own order; worker RNGs derive from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        generator=generator,
        persistent_workers=False,
        pin_memory=torch.cuda.is_available(),
    )
