"""Data sets: bundled digits, ImageFolder trees (and their errors), generated shapes."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcbench.components import ImageDataset
from dcbench.errors import ConfigError, DataError
from dcbench.plugin_manager import load_components
from dcbench.plugins.datasets import SHAPES, make_digits, make_imagefolder, make_synthetic

# --- digits ------------------------------------------------------------------------


def test_digits_are_the_bundled_1797_images() -> None:
    digits = make_digits(root=None, seed=0)
    assert isinstance(digits, ImageDataset)
    assert len(digits) == 1797
    assert digits.num_classes == 10 and digits.native_size == 8
    assert digits.test_mask is None
    assert digits.targets.dtype == np.int64
    assert sorted(set(digits.targets.tolist())) == list(range(10))
    image = digits.get_image(0)
    assert image.dtype == torch.uint8 and image.shape == (3, 8, 8)
    assert torch.equal(image[0], image[1]) and torch.equal(image[0], image[2])
    assert int(digits.images.max()) == 255  # 0..16 scaled to the full uint8 range
    assert digits.recipe["image_size"] == 32


def test_digits_refuse_unknown_options() -> None:
    with pytest.raises(ConfigError, match="does not take option"):
        make_digits(root=None, seed=0, n_images=10)


# --- imagefolder -------------------------------------------------------------------


def _write_images(
    folder: Path, count: int, fmt: str = "PNG", size: tuple[int, int] = (12, 10)
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        suffix = "jpg" if fmt == "JPEG" else fmt.lower()
        Image.new("RGB", size, (40 * i, 100, 200)).save(folder / f"img{i}.{suffix}", fmt)


def test_imagefolder_labels_come_from_sorted_folder_names(tmp_path: Path) -> None:
    _write_images(tmp_path / "zebra", 2, "JPEG")
    _write_images(tmp_path / "ant", 3)
    Image.new("L", (7, 9)).save(tmp_path / "ant" / "grey.png")  # grey becomes RGB
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    data = make_imagefolder(root=tmp_path, seed=0)
    assert isinstance(data, ImageDataset)
    assert data.classes == ["ant", "zebra"] and data.num_classes == 2
    assert len(data) == 6
    assert data.targets.tolist() == [0, 0, 0, 0, 1, 1]
    assert data.test_mask is None and data.native_size == 0 and data.recipe == {}
    assert data.get_image(0).shape == (3, 9, 7)  # grey.png, sorted first
    image = data.get_image(5)
    assert image.dtype == torch.uint8 and image.shape == (3, 10, 12)
    assert pickle.loads(pickle.dumps(data)).targets.tolist() == data.targets.tolist()


def test_imagefolder_uses_a_train_val_split(tmp_path: Path) -> None:
    for part, count in (("train", 3), ("val", 1)):
        for name in ("cat", "dog"):
            _write_images(tmp_path / part / name, count)
    data = make_imagefolder(root=tmp_path, seed=0)
    assert data.classes == ["cat", "dog"]
    assert len(data) == 8
    assert data.test_mask.tolist() == [False] * 6 + [True] * 2
    assert data.targets.tolist() == [0, 0, 0, 1, 1, 1, 0, 1]


def test_imagefolder_split_with_different_classes_is_refused(tmp_path: Path) -> None:
    _write_images(tmp_path / "train" / "cat", 1)
    _write_images(tmp_path / "test" / "dog", 1)
    with pytest.raises(DataError, match="hold different class folders"):
        make_imagefolder(root=tmp_path, seed=0)


def test_imagefolder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--data PATH is required for imagefolder"):
        make_imagefolder(root=None, seed=0)
    with pytest.raises(DataError, match="does not exist"):
        make_imagefolder(root=tmp_path / "missing", seed=0)
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(DataError, match="is not a directory"):
        make_imagefolder(root=tmp_path / "file.png", seed=0)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no class folders found"):
        make_imagefolder(root=empty, seed=0)
    (empty / "cat").mkdir()
    (empty / "cat" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match="no images found"):
        make_imagefolder(root=empty, seed=0)
    with pytest.raises(ConfigError, match="does not take option"):
        make_imagefolder(root=empty, seed=0, size=3)


def test_imagefolder_corrupt_image_names_the_file(tmp_path: Path) -> None:
    _write_images(tmp_path / "cat", 1)
    broken = tmp_path / "cat" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    data = make_imagefolder(root=tmp_path, seed=0)
    index = data.paths.index(str(broken))
    with pytest.raises(DataError, match=r"cannot read image .*broken\.jpg"):
        data.get_image(index)


# --- synthetic ---------------------------------------------------------------------


def test_synthetic_is_deterministic_by_seed() -> None:
    first = make_synthetic(root=None, seed=3, n_images=64)
    again = make_synthetic(root=None, seed=3, n_images=64)
    other = make_synthetic(root=None, seed=4, n_images=64)
    assert torch.equal(first.images, again.images)
    assert np.array_equal(first.targets, again.targets)
    assert not torch.equal(first.images, other.images)


def test_synthetic_sizes_and_balanced_classes() -> None:
    data = make_synthetic(root=None, seed=0, n_images=70, image_size=24, num_classes=len(SHAPES))
    assert isinstance(data, ImageDataset)
    assert len(data) == 70 and data.native_size == 24 and data.num_classes == len(SHAPES)
    assert np.bincount(data.targets).tolist() == [10] * len(SHAPES)
    image = data.get_image(0)
    assert image.dtype == torch.uint8 and image.shape == (3, 24, 24)
    assert data.test_mask is None
    defaults = make_synthetic(root=None, seed=0)
    assert len(defaults) == 512 and defaults.num_classes == 4 and defaults.native_size == 32


def test_synthetic_classes_differ_in_shape_not_just_noise() -> None:
    # Without noise, the share of foreground pixels differs by shape (ring < disc).
    data = make_synthetic(root=None, seed=0, n_images=400, num_classes=5, noise=0.0)
    images = data.images.float()
    background = images[:, :, :1, :1]  # corners are background: shapes stay inside
    foreground_share = (images != background).any(dim=1).float().mean(dim=(1, 2))
    per_class = [foreground_share[data.targets == c].mean().item() for c in range(5)]
    disc, ring = per_class[0], per_class[4]
    assert ring < disc
    assert min(per_class) > 0.02


def test_synthetic_is_fast() -> None:
    start = time.process_time()  # CPU time: stable when other jobs share the machine
    data = make_synthetic(root=None, seed=0, n_images=10_000)
    assert time.process_time() - start < 3.0  # about 0.5 s on one core
    assert data.images.shape == (10_000, 3, 32, 32)


@pytest.mark.parametrize(
    "options",
    [
        {"num_classes": len(SHAPES) + 1},
        {"n_images": 0},
        {"image_size": 4},
        {"noise": -1},
        {"colour": 1},
    ],
)
def test_synthetic_bad_options_are_config_errors(options: dict) -> None:
    with pytest.raises(ConfigError, match="synthetic"):
        make_synthetic(root=None, seed=0, **options)


def test_registered_through_the_plugin_manager() -> None:
    components = load_components()
    assert {"digits", "imagefolder", "synthetic"} <= set(components.registry("dataset").names())
    data = components.create("dataset", "synthetic", root=None, seed=1, n_images=8)
    assert len(data) == 8
    assert len(pickle.loads(pickle.dumps(data))) == 8
