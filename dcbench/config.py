"""Run settings: the paper's defaults, data-set recipes, and deterministic run ids.

A setting's value comes from, in rising priority: :data:`PAPER_DEFAULTS` (the
reference code's hyperparameters for real image data), the data set's ``recipe``
(measured small-data defaults, e.g. for ``digits``), the recipe's per-backbone
overrides, and finally what the user passed. ``RunConfig.recipe_keys`` records which
settings the recipe supplied, so a results table never hides where a number came from.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dcbench.errors import ConfigError

# The reference implementation's values (facebookresearch/deepcluster main.py).
PAPER_DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "data": None,
    "preprocess": "sobel",
    "backbone": "alexnet",
    "clusterer": "kmeans",
    "k": 10000,
    "evaluators": ("nmi",),
    "epochs": 200,
    "batch_size": 256,
    "lr": 0.05,
    "momentum": 0.9,
    "wd": 1e-5,
    "pca_dim": 256,
    "pca_fit_samples": 50_000,
    "image_size": 224,
    "center_crop_ratio": 256 / 224,
    "augment": "crop-flip",
    "crop_scale": 0.08,
    "hflip": True,
    "seed": 31,
    "eval_every": 0,
    "supervised": False,
    "sinks": ("files",),
    "options": (),
}

AUGMENTATIONS = ("crop-flip", "affine", "none")

# Settings that do not change the numbers a run produces: left out of the run id.
NON_RESULT_KEYS = frozenset({"device", "workers", "out", "checkpoint"})


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one run. Frozen and JSON-serialisable; hashed into the run id."""

    dataset: str
    data: str | None
    preprocess: str
    backbone: str
    clusterer: str
    k: int
    evaluators: tuple[str, ...]
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    wd: float
    pca_dim: int
    pca_fit_samples: int
    image_size: int
    center_crop_ratio: float
    augment: str  # "crop-flip" (the paper's), "affine" (small data) or "none"
    crop_scale: float
    hflip: bool
    seed: int
    eval_every: int
    # Train on the true labels instead of pseudo-labels: the supervised reference row.
    supervised: bool
    sinks: tuple[str, ...]
    # Component options as sorted (component.key, value) pairs, e.g. ("dataset.n_images", 64).
    options: tuple[tuple[str, Any], ...]
    device: str = "auto"
    workers: int = 0
    out: str = "results"
    checkpoint: bool = True
    recipe_keys: tuple[str, ...] = field(default=())

    @property
    def eval_resize(self) -> int:
        """Side images are resized to before the centre crop of ``image_size``."""
        return max(self.image_size, round(self.image_size * self.center_crop_ratio))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def result_settings(self) -> dict[str, Any]:
        """The settings that determine the results (the run id hashes these)."""
        return {k: v for k, v in self.to_dict().items() if k not in NON_RESULT_KEYS}

    @property
    def run_id(self) -> str:
        payload = json.dumps(self.result_settings(), sort_keys=True, default=str)
        digest = hashlib.sha1(payload.encode()).hexdigest()[:10]
        method = "supervised" if self.supervised else self.clusterer
        readable = f"{self.dataset}_{self.backbone}_{self.preprocess}_{method}"
        if self.k:  # 0 for clusterers that choose their own number of clusters (PIC)
            readable += f"_k{self.k}"
        return f"{_slug(readable)}_{digest}"

    def component_options(self, component: str) -> dict[str, Any]:
        """Options for one component, from ``--opt component.key=value``.

        A run has several evaluators, so theirs are addressed by name:
        ``component_options("evaluator.knn")`` reads ``--opt evaluator.knn.k=10``.
        """
        return options_for(self.options, component)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in known}
        for key in ("evaluators", "sinks", "recipe_keys"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        if "options" in kwargs:
            kwargs["options"] = tuple((str(k), v) for k, v in kwargs["options"])
        return cls(**kwargs)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def options_for(options: Iterable[tuple[str, Any]], component: str) -> dict[str, Any]:
    """The ``component.key`` pairs of ``options`` as ``{key: value}`` (see above)."""
    prefix = f"{component}."
    nested = "." in component
    return {
        key[len(prefix) :]: value
        for key, value in options
        if key.startswith(prefix) and (nested or "." not in key[len(prefix) :])
    }


def parse_options(pairs: list[str] | tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """Parse ``component.key=value`` strings; values are JSON when they parse as JSON."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or "." not in key or not key.split(".", 1)[1]:
            raise ConfigError(
                f"--opt expects COMPONENT.KEY=VALUE (e.g. dataset.n_images=256), got {pair!r}"
            )
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        parsed[key.strip()] = value
    return tuple(sorted(parsed.items()))


def recipe_for(recipe: Mapping[str, Any], backbone: str) -> dict[str, Any]:
    """A data set's recipe with its per-backbone overrides (glob keys) applied."""
    settings = {k: v for k, v in recipe.items() if k != "per_backbone"}
    for pattern, overrides in recipe.get("per_backbone", {}).items():
        if fnmatch.fnmatch(backbone, pattern):
            settings.update(overrides)
    return settings


def resolve_config(
    user: Mapping[str, Any],
    recipe: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Merge paper defaults, the data set's recipe and the user's settings.

    ``user`` holds only what the user set (``None`` values are ignored).
    """
    given = {k: v for k, v in user.items() if v is not None}
    unknown = set(given) - {f.name for f in dataclasses.fields(RunConfig)}
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    backbone = given.get("backbone", (recipe or {}).get("backbone", PAPER_DEFAULTS["backbone"]))
    from_recipe = recipe_for(recipe or {}, backbone)
    values = {**PAPER_DEFAULTS, **from_recipe, **given}
    values["recipe_keys"] = tuple(sorted(k for k in from_recipe if k not in given))
    config = RunConfig.from_dict(values)
    validate(config)
    return config


def validate(config: RunConfig) -> None:
    """Reject values that cannot work, with one line saying which option to fix."""
    checks = [
        (config.k >= 0, f"--k must be at least 1, got {config.k}"),
        (config.epochs >= 0, f"--epochs must be 0 or more, got {config.epochs}"),
        (config.batch_size >= 1, f"--batch-size must be at least 1, got {config.batch_size}"),
        (config.lr > 0, f"--lr must be positive, got {config.lr}"),
        (config.wd >= 0, f"--wd must be 0 or more, got {config.wd}"),
        (config.pca_dim >= 0, f"--pca-dim must be 0 (off) or more, got {config.pca_dim}"),
        (config.image_size >= 8, f"--image-size must be at least 8, got {config.image_size}"),
        (
            config.augment in AUGMENTATIONS,
            f"--augment must be one of {', '.join(AUGMENTATIONS)}, got {config.augment!r}",
        ),
        (0 < config.crop_scale <= 1, f"crop scale must be in (0, 1], got {config.crop_scale}"),
        (config.workers >= 0, f"--workers must be 0 or more, got {config.workers}"),
        (config.eval_every >= 0, f"--eval-every must be 0 or more, got {config.eval_every}"),
        (
            config.device in {"auto", "cpu"} or config.device.startswith("cuda"),
            f"--device must be auto, cpu or cuda[:N], got {config.device!r}",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
