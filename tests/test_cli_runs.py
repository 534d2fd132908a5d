"""End-to-end CLI runs on data a user keeps on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from tests.cli_helpers import run_cli


def _image_folder(root: Path, per_class: int = 12) -> Path:
    """An ImageNet-style tree: one folder per class, JPEG and PNG files of varied sizes."""
    rng = np.random.default_rng(0)
    for label, colour in enumerate([(220, 40, 40), (40, 40, 220), (40, 200, 40)]):
        folder = root / f"class_{label}"
        folder.mkdir(parents=True)
        for index in range(per_class):
            size = int(rng.integers(20, 40))
            pixels = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            pixels[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = colour
            suffix = ".png" if index % 2 else ".jpg"
            Image.fromarray(pixels).save(folder / f"img_{index}{suffix}")
    return root


def test_imagefolder_run_through_the_cli(capsys, tmp_path: Path) -> None:
    data = _image_folder(tmp_path / "data")
    out = tmp_path / "results"
    result = run_cli(
        capsys, "run", "--dataset", "imagefolder", "--data", str(data), "--backbone",
        "small-cnn", "--preprocess", "color", "--image-size", "16", "--k", "3",
        "--epochs", "2", "--batch-size", "8", "--pca-dim", "8", "--out", str(out), "-q",
    )  # fmt: skip
    assert result.code == 0, result.err
    [run_dir] = list(out.iterdir())
    epochs = pd.read_parquet(run_dir / "epochs.parquet")
    assert list(epochs["epoch"]) == [0, 1, 2]
    assert epochs["nmi_labels"].notna().all()  # labels from the folder names

    listing = run_cli(capsys, "compare", str(out), "--format", "csv")
    assert listing.code == 0
    table = pd.read_csv(__import__("io").StringIO(listing.out))
    assert len(table) == 1 and "nmi_labels" in table


def test_corrupt_image_is_one_line_error(capsys, tmp_path: Path) -> None:
    data = _image_folder(tmp_path / "data", per_class=3)
    (data / "class_0" / "broken.jpg").write_bytes(b"not a jpeg at all")
    result = run_cli(
        capsys, "run", "--dataset", "imagefolder", "--data", str(data), "--backbone",
        "small-cnn", "--image-size", "16", "--k", "2", "--epochs", "1", "--out",
        str(tmp_path / "out"), "-q",
    )  # fmt: skip
    assert result.code == 2, result
    lines = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "broken.jpg" in lines[0]
    assert "Traceback" not in result.err
