"""The ``timm:`` name space: any timm model as a DeepCluster backbone, randomly initialised.

``--backbone timm:resnet18`` builds ``timm.create_model("resnet18", pretrained=False,
num_classes=0, in_chans=...)``: its pooled features are already post-activation, so
``head_activation`` is the identity. Weights are never downloaded. timm and torch are
imported on first use, so importing this module stays cheap.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dcbench import hookimpl
from dcbench.errors import ConfigError, UnknownComponentError

if TYPE_CHECKING:
    from torch import nn

# Options that would fetch or load weights; dcbench trains from scratch, offline.
_WEIGHT_OPTIONS = ("pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "checkpoint_path")


def list_timm_models(pattern: str = "*") -> list[str]:
    """timm model names matching a glob (``dcbench backbones 'timm:*resnet*'``)."""
    import timm

    return timm.list_models(pattern)


@functools.cache
def _timm_backbone_class() -> type:
    import torch
    from torch import nn

    class TimmBackbone(nn.Module):
        """A headless timm model; probes are the stages its ``feature_info`` names."""

        def __init__(self, model: nn.Module) -> None:
            super().__init__()
            self.model = model
            self.feature_dim = int(model.num_features)
            self.head_activation = nn.Identity()

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.model(images)

        def probe_layers(self) -> dict[str, nn.Module]:
            info = getattr(self.model, "feature_info", None) or []
            return {stage["module"]: self.model.get_submodule(stage["module"]) for stage in info}

    TimmBackbone.__qualname__ = "TimmBackbone"
    return TimmBackbone


def __getattr__(name: str) -> Any:
    """Module attribute ``TimmBackbone``, built lazily: lets pickle and isinstance find it."""
    if name == "TimmBackbone":
        return _timm_backbone_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _unknown_model(name: str) -> UnknownComponentError:
    close = difflib.get_close_matches(name, list_timm_models(), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(f'timm:{c}' for c in close)}?" if close else ""
    return UnknownComponentError(
        f"Unknown timm model {name!r}.{hint} List them with a glob, e.g. 'timm:*{name[:4]}*'"
    )


def _check_image_size(backbone: nn.Module, name: str, in_channels: int, image_size: int) -> None:
    """A dry forward at batch 1: timm models have no common size arithmetic to read."""
    import torch

    was_training = backbone.training
    backbone.eval()  # BatchNorm refuses a single value per channel in training mode
    try:
        with torch.no_grad():
            backbone(torch.zeros(1, in_channels, image_size, image_size))
    except (RuntimeError, AssertionError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"backbone 'timm:{name}' cannot take {image_size} px images (--image-size): "
            f"{first_line}"
        ) from exc
    finally:
        backbone.train(was_training)


def make_timm_backbone(
    *, name: str, in_channels: int, image_size: int, **options: Any
) -> nn.Module:
    """``timm:<model>``; extra options go to ``timm.create_model`` (e.g. drop_rate)."""
    import timm

    blocked = sorted(set(options) & set(_WEIGHT_OPTIONS))
    if blocked:
        raise ConfigError(
            f"backbone 'timm:{name}': option(s) {', '.join(blocked)} not allowed; "
            "dcbench trains from scratch and never loads weights"
        )
    if not timm.is_model(name):
        raise _unknown_model(name)
    try:
        model = timm.create_model(
            name, pretrained=False, num_classes=0, in_chans=in_channels, **options
        )
    except TypeError as exc:
        raise ConfigError(f"backbone 'timm:{name}': bad option: {exc}") from exc
    backbone = _timm_backbone_class()(model)
    _check_image_size(backbone, name, in_channels, image_size)
    return backbone


@hookimpl
def register_backbones(register: Callable[..., None]) -> None:
    register(
        "timm:",
        make_timm_backbone,
        description="any timm model, randomly initialised (e.g. timm:resnet18)",
        list_names=list_timm_models,
    )
