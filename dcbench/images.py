"""An image data set held in memory as one uint8 tensor.

Small data sets (bundled digits, generated shapes) fit in RAM many times over, so they
are decoded once into a single ``(N, 3, H, W)`` tensor: indexing is free, and the
object pickles to worker processes as one contiguous buffer. Torch is not imported
here; the caller hands in the tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass
class InMemoryImageDataset:
    """Meets :class:`dcbench.components.ImageDataset` for a uint8 ``(N, 3, H, W)`` tensor."""

    name: str
    images: torch.Tensor
    targets: np.ndarray | None
    num_classes: int | None
    test_mask: np.ndarray | None = None
    recipe: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W); got {tuple(self.images.shape)}")
        if self.targets is not None and len(self.targets) != len(self.images):
            raise ValueError("targets and images differ in length")

    @property
    def native_size(self) -> int:
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def get_image(self, index: int) -> torch.Tensor:
        """A view into the stored tensor: transforms must not modify it in place."""
        return self.images[index]
