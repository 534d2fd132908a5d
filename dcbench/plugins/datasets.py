"""Built-in data sets: bundled digits, any ImageFolder tree, generated shapes.

Registered through the same hook a third-party plugin uses. Torch, torchvision, PIL and
scikit-learn are imported inside the factories so that importing this module (and
``dcbench --help``) stays fast. Every data set pickles cheaply: the in-memory ones as
one uint8 tensor, the image folder as a list of paths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dcbench import hookimpl
from dcbench.errors import ConfigError, DataError

if TYPE_CHECKING:
    import torch

    from dcbench.images import InMemoryImageDataset


def _reject_options(
    dataset: str, options: Mapping[str, Any], allowed: tuple[str, ...] = ()
) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) if allowed else "no options"
        raise ConfigError(
            f"dataset {dataset!r} does not take option(s) {', '.join(unknown)}; it takes: {takes}"
        )


# --- digits ------------------------------------------------------------------------


def make_digits(*, root: Path | None = None, seed: int = 0, **options: Any) -> InMemoryImageDataset:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes).

    Bundled with scikit-learn, so it needs no download and no ``--data``; ``root`` and
    ``seed`` are accepted for the common factory signature and not used.
    """
    _reject_options("digits", options)
    import torch
    from sklearn.datasets import load_digits

    from dcbench.images import InMemoryImageDataset

    bunch = load_digits()
    grey = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # values are 0..16
    images = torch.from_numpy(grey)[:, None].expand(-1, 3, -1, -1).contiguous()
    return InMemoryImageDataset(
        name="digits",
        images=images,
        targets=bunch.target.astype(np.int64),
        num_classes=10,
        test_mask=None,  # no official split
        recipe=DIGITS_RECIPE,
    )


# The small-data recipe: measured, not assumed (docs/recipes.md has the sweep). With
# the paper's settings (PCA 256, batch 256, crop + flip) NMI against the labels falls
# on 1,797 8x8 digits; whitening few dimensions, small batches (enough SGD steps per
# epoch), k = 10 and mild affine jitter make it rise. The user's options always win.
DIGITS_RECIPE: dict[str, Any] = {
    "backbone": "small-cnn",
    "preprocess": "color",
    "k": 10,
    "pca_dim": 16,
    "batch_size": 32,
    "epochs": 15,
    "image_size": 32,
    "center_crop_ratio": 1.0,
    "augment": "affine",
    "hflip": False,
    # Paper backbones need bigger inputs than the digits' 32 px.
    "per_backbone": {"alexnet": {"image_size": 64}},
}


# --- imagefolder -------------------------------------------------------------------


@dataclass
class ImageFolderDataset:
    """Images decoded from disk on demand; labels from the class folder names."""

    root: Path
    paths: list[str]
    targets: np.ndarray
    classes: list[str]
    test_mask: np.ndarray | None = None
    name: str = "imagefolder"
    native_size: int = 0  # varies per image: the loop's default image size applies
    recipe: Mapping[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.paths)

    def get_image(self, index: int) -> torch.Tensor:
        return _decode_rgb(self.paths[index])


def _decode_rgb(path: str) -> torch.Tensor:
    """PIL reads every extension torchvision's ImageFolder accepts (BMP, TIFF, PPM too)."""
    import torch
    from PIL import Image

    try:
        with Image.open(path) as image:
            pixels = np.array(image.convert("RGB"))  # a writable copy for torch
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


def _scan(
    directory: Path, classes: list[str] | None = None
) -> tuple[list[str], list[tuple[str, int]]]:
    """Class names and (path, label) pairs, with torchvision's own folder rules."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    if classes is None:
        try:
            classes, _ = find_classes(directory)
        except FileNotFoundError as exc:
            raise DataError(f"no class folders found in {directory}") from exc
    class_to_idx = {name: i for i, name in enumerate(classes)}
    samples = make_dataset(directory, class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
    return classes, samples


_HELD_OUT = ("val", "test")


def _split_dirs(root: Path) -> tuple[Path, Path] | None:
    """``root/train`` and ``root/val`` (or ``test``) when the tree is split that way."""
    train = root / "train"
    if not train.is_dir():
        return None
    for held_out in _HELD_OUT:
        if (root / held_out).is_dir():
            return train, root / held_out
    return None


def make_imagefolder(*, root: Path | None, seed: int = 0, **options: Any) -> ImageFolderDataset:
    """Any ImageFolder tree (ImageNet's layout); labels feed evaluators only.

    A tree split into ``train/`` and ``val/`` (or ``test/``) uses both parts and marks the
    held-out one in ``test_mask``, so probes evaluate on the data set's own split.
    """
    _reject_options("imagefolder", options)
    if root is None:
        raise DataError("--data PATH is required for imagefolder")
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"imagefolder: {root} does not exist")
    if not root.is_dir():
        raise DataError(f"imagefolder: {root} is not a directory")

    split = _split_dirs(root)
    if split is None:
        classes, samples = _scan(root)
        test_mask = None
    else:
        train_dir, held_dir = split
        classes, train_samples = _scan(train_dir)
        held_classes, _ = _scan(held_dir)
        if held_classes != classes:
            raise DataError(
                f"imagefolder: {train_dir} and {held_dir} hold different class folders; "
                "point --data at one of them"
            )
        _, held_samples = _scan(held_dir, classes)
        samples = train_samples + held_samples
        test_mask = np.zeros(len(samples), dtype=bool)
        test_mask[len(train_samples) :] = True

    if not samples:
        raise DataError(f"imagefolder: no images found under {root}")
    return ImageFolderDataset(
        root=root,
        paths=[path for path, _ in samples],
        targets=np.array([label for _, label in samples], dtype=np.int64),
        classes=classes,
        test_mask=test_mask,
    )


# --- synthetic ---------------------------------------------------------------------

# Each shape is a mask over coordinates (u, v) relative to the shape's centre, in units
# of its radius; every shape fits in the square |u|, |v| <= 1.
ShapeMask = Callable[[np.ndarray, np.ndarray], np.ndarray]

SHAPES: dict[str, ShapeMask] = {
    "disc": lambda u, v: u**2 + v**2 <= 1.0,
    "square": lambda u, v: np.maximum(np.abs(u), np.abs(v)) <= 0.8,
    "triangle": lambda u, v: (v <= 0.8) & (np.abs(u) <= (v + 1.0) * 0.5),
    "cross": lambda u, v: (
        ((np.abs(u) <= 0.3) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 1.0))
    ),
    "ring": lambda u, v: (u**2 + v**2 <= 1.0) & (u**2 + v**2 >= 0.55**2),
    "stripes": lambda u, v: (
        (np.maximum(np.abs(u), np.abs(v)) <= 0.9) & (np.floor((u + 1.0) * 2.5) % 2 == 0)
    ),
    "diamond": lambda u, v: np.abs(u) + np.abs(v) <= 1.0,
}


def _int_option(options: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"synthetic: {key} must be an integer in [{low}, {high}]; got {value!r}")
    return value


def make_synthetic(
    *, root: Path | None = None, seed: int = 0, **options: Any
) -> InMemoryImageDataset:
    """Seeded images of coloured shapes: a labelled task that costs no download.

    Position, size, foreground and background colour vary per image (with a minimum
    colour contrast), plus Gaussian pixel noise, so telling the shapes apart takes
    shape features, not colour or position. Options: n_images (512), image_size (32),
    num_classes (4, at most one per shape kind), noise (pixel std on a 0..1 scale, 0.05).
    """
    _reject_options("synthetic", options, ("n_images", "image_size", "num_classes", "noise"))
    n_images = _int_option(options, "n_images", 512, 1, 10_000_000)
    size = _int_option(options, "image_size", 32, 8, 1024)
    num_classes = _int_option(options, "num_classes", 4, 2, len(SHAPES))
    noise = options.get("noise", 0.05)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise <= 1:
        raise ConfigError(f"synthetic: noise must be a number in [0, 1]; got {noise!r}")
    import torch

    from dcbench.images import InMemoryImageDataset

    rng = np.random.default_rng(seed)
    targets = rng.permutation(np.arange(n_images) % num_classes).astype(np.int64)  # balanced
    pixels = _draw_shapes(rng, targets, size, float(noise))
    return InMemoryImageDataset(
        name="synthetic",
        images=torch.from_numpy(pixels),
        targets=targets,
        num_classes=num_classes,
        recipe={},
    )


def _draw_shapes(
    rng: np.random.Generator, targets: np.ndarray, size: int, noise: float
) -> np.ndarray:
    """uint8 ``(N, 3, size, size)``, one shape per image, drawn for all images at once."""
    n = len(targets)
    radius = rng.uniform(0.2, 0.4, n) * size
    centre = rng.uniform(radius[:, None], size - radius[:, None], (n, 2))  # shape stays inside
    background = rng.uniform(0.0, 1.0, (n, 3))
    # Each channel of the foreground differs from the background by 0.3 to 0.7.
    foreground = (background + rng.uniform(0.3, 0.7, (n, 3))) % 1.0

    grid = np.arange(size, dtype=np.float32) + 0.5
    scale = (1.0 / radius).astype(np.float32)[:, None, None]
    u = (grid[None, None, :] - centre[:, 0, None, None].astype(np.float32)) * scale
    v = (grid[None, :, None] - centre[:, 1, None, None].astype(np.float32)) * scale
    mask = np.zeros((n, size, size), dtype=bool)
    for label, shape in enumerate(SHAPES.values()):
        chosen = targets == label
        if chosen.any():
            mask[chosen] = shape(u[chosen], v[chosen])

    # float32 in place throughout: this is the costly part for large n.
    levels = np.where(
        mask[:, None],
        (foreground * 255).astype(np.float32)[:, :, None, None],
        (background * 255).astype(np.float32)[:, :, None, None],
    )
    if noise > 0:
        noise_field = rng.standard_normal(levels.shape, dtype=np.float32)
        noise_field *= noise * 255
        levels += noise_field
    np.clip(levels, 0.0, 255.0, out=levels)
    return np.rint(levels, out=levels).astype(np.uint8)


@hookimpl
def register_datasets(register: Callable[..., None]) -> None:
    register(
        "digits",
        make_digits,
        description="scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes)",
    )
    register(
        "imagefolder",
        make_imagefolder,
        description="any ImageFolder tree at --data (class sub-folders; train/ + val/ split)",
    )
    register(
        "synthetic",
        make_synthetic,
        description="seeded coloured shapes (options n_images, image_size, num_classes, noise)",
    )
