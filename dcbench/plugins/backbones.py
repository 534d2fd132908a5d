"""Built-in convnets: DeepCluster's AlexNet and VGG16 (with BatchNorm), and a small CNN.

Each network is described by a layer list (convs and max-pools) from which both the
module and the smallest usable image size are computed, so a too-small ``--image-size``
is refused before anything is built. The torch class is created on first use (see
:func:`__getattr__`) so importing this module does not import torch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dcbench import hookimpl
from dcbench.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

Conv = tuple[int, int, int, int]  # filters, kernel, stride, padding
POOL = "M"
Layer = Conv | str

# Reference models/alexnet.py: max-pools are 3x3, stride 2.
ALEXNET_LAYERS: tuple[Layer, ...] = (
    (96, 11, 4, 2), POOL, (256, 5, 1, 2), POOL,
    (384, 3, 1, 1), (384, 3, 1, 1), (256, 3, 1, 1), POOL,
)  # fmt: skip
ALEXNET_POOL = (3, 2)
# Reference models/vgg16.py: 3x3 convs, 2x2 max-pools with stride 2.
VGG16_LAYERS: tuple[Layer, ...] = tuple(
    layer
    for filters, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
    for layer in (*[(filters, 3, 1, 1)] * convs, POOL)
)
VGG_POOL = (2, 2)


def _spatial_size(layers: Sequence[Layer], pool: tuple[int, int], size: int) -> int:
    """Side of the last feature map for a ``size`` px input; 0 once it vanishes."""
    for layer in layers:
        kernel, stride, padding = (*pool, 0) if layer == POOL else layer[1:]
        size = (size + 2 * padding - kernel) // stride + 1
        if size < 1:
            return 0
    return size


def min_image_size(layers: Sequence[Layer], pool: tuple[int, int]) -> int:
    """The smallest input side for which no feature map vanishes."""
    size = 1
    while _spatial_size(layers, pool, size) < 1:
        size += 1
    return size


def _check_inputs(backbone: str, in_channels: Any, image_size: Any, minimum: int) -> None:
    for option, value in (("in_channels", in_channels), ("image_size", image_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"backbone {backbone!r}: {option} must be a positive integer; got {value!r}"
            )
    if image_size < minimum:
        raise ConfigError(
            f"backbone {backbone!r} needs images of at least {minimum} px; "
            f"got {image_size} (--image-size)"
        )


def _reject_options(
    backbone: str, options: Mapping[str, Any], allowed: tuple[str, ...] = ()
) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) if allowed else "no options"
        raise ConfigError(
            f"backbone {backbone!r} does not take option(s) {', '.join(unknown)}; it takes: {takes}"
        )


def _conv_body(
    layers: Sequence[Layer], pool: tuple[int, int], in_channels: int
) -> tuple[nn.Sequential, list[int], list[int]]:
    """Conv-BN-ReLU per conv, max-pool per ``M``.

    Returns the body and the indices (in the body) of every ReLU and of the last ReLU
    before each pool, the candidate probe points.
    """
    from torch import nn

    modules: list[nn.Module] = []
    relus: list[int] = []
    block_ends: list[int] = []
    channels = in_channels
    for layer in layers:
        if layer == POOL:
            block_ends.append(relus[-1])
            modules.append(nn.MaxPool2d(kernel_size=pool[0], stride=pool[1]))
            continue
        filters, kernel, stride, padding = layer
        modules += [
            nn.Conv2d(channels, filters, kernel, stride=stride, padding=padding),
            nn.BatchNorm2d(filters),
            nn.ReLU(inplace=True),
        ]
        relus.append(len(modules) - 1)
        channels = filters
    return nn.Sequential(*modules), relus, block_ends


def _init_reference(module: nn.Module) -> None:
    """DeepCluster's init: conv N(0, sqrt(2/(k*k*out))), BN (1, 0), linear N(0, 0.01)."""
    import torch
    from torch import nn

    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Conv2d):
                fan_out = layer.kernel_size[0] * layer.kernel_size[1] * layer.out_channels
                layer.weight.normal_(0.0, math.sqrt(2.0 / fan_out))
                if layer.bias is not None:
                    layer.bias.zero_()
            elif isinstance(layer, nn.BatchNorm2d):
                layer.weight.fill_(1.0)
                layer.bias.zero_()
            elif isinstance(layer, nn.Linear):
                layer.weight.normal_(0.0, 0.01)
                layer.bias.zero_()


def _linear(in_features: int, out_features: int) -> nn.Linear:
    """A Linear left uninitialised: :func:`_init_reference` fills it, and torch's own
    default init of VGG16's 100M-weight fc6 alone takes about 2 s on CPU."""
    from torch import nn
    from torch.nn.utils import skip_init

    return skip_init(nn.Linear, in_features, out_features)


@functools.cache
def _conv_backbone_class() -> type:
    import torch
    from torch import nn

    class ConvBackbone(nn.Module):
        """Conv body, adaptive pool, fully connected head without its last ReLU.

        The adaptive pool is an identity at the size the network was designed for
        (6x6 for AlexNet at 224 px) and lets smaller images through unchanged in shape.
        """

        def __init__(
            self,
            features: nn.Sequential,
            pool: nn.Module,
            classifier: nn.Sequential,
            feature_dim: int,
            probes: Mapping[str, int],
        ) -> None:
            super().__init__()
            self.features = features
            self.pool = pool
            self.classifier = classifier
            self.feature_dim = feature_dim
            self.head_activation = nn.ReLU()
            self.probe_indices = dict(probes)  # probe name -> index of its ReLU in features

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.classifier(torch.flatten(self.pool(self.features(images)), 1))

        def probe_layers(self) -> dict[str, nn.Module]:
            return {name: self.features[index] for name, index in self.probe_indices.items()}

    ConvBackbone.__qualname__ = "ConvBackbone"
    return ConvBackbone


def __getattr__(name: str) -> Any:
    """Module attribute ``ConvBackbone``, built lazily: lets pickle and isinstance find it."""
    if name == "ConvBackbone":
        return _conv_backbone_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_alexnet(*, in_channels: int, image_size: int, **options: Any) -> nn.Module:
    """DeepCluster's AlexNet: 5 conv layers with BatchNorm, fc6/fc7 of 4096 (fc7 is output)."""
    _reject_options("alexnet", options)
    _check_inputs("alexnet", in_channels, image_size, min_image_size(ALEXNET_LAYERS, ALEXNET_POOL))
    from torch import nn

    features, relus, _ = _conv_body(ALEXNET_LAYERS, ALEXNET_POOL, in_channels)
    classifier = nn.Sequential(
        nn.Dropout(0.5),
        _linear(256 * 6 * 6, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        _linear(4096, 4096),
    )
    probes = {f"conv{i}": index for i, index in enumerate(relus, start=1)}
    model = _conv_backbone_class()(features, nn.AdaptiveAvgPool2d(6), classifier, 4096, probes)
    _init_reference(model)
    return model


def make_vgg16(*, in_channels: int, image_size: int, **options: Any) -> nn.Module:
    """VGG16 with BatchNorm as in DeepCluster; probes at the end of each of the 5 blocks."""
    _reject_options("vgg16", options)
    _check_inputs("vgg16", in_channels, image_size, min_image_size(VGG16_LAYERS, VGG_POOL))
    from torch import nn

    features, _, block_ends = _conv_body(VGG16_LAYERS, VGG_POOL, in_channels)
    classifier = nn.Sequential(
        _linear(512 * 7 * 7, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        _linear(4096, 4096),
    )
    probes = {f"block{i}": index for i, index in enumerate(block_ends, start=1)}
    model = _conv_backbone_class()(features, nn.AdaptiveAvgPool2d(7), classifier, 4096, probes)
    _init_reference(model)
    return model


def _positive_int(backbone: str, options: Mapping[str, Any], key: str, default: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"backbone {backbone!r}: {key} must be a positive integer; got {value!r}")
    return value


def make_small_cnn(*, in_channels: int, image_size: int, **options: Any) -> nn.Module:
    """A fast CNN for small images and tests: ``blocks`` x (conv3x3-BN-ReLU-maxpool2).

    Channels double per block from ``width``; an adaptive pool to ``pool`` x ``pool``
    (identity for 32 px and 3 blocks), then Linear-ReLU-Linear to ``feature_dim``.
    The defaults are the architecture measured for the digits recipe (docs/recipes.md).
    Options: width (32), blocks (3), hidden (512), feature_dim (256), pool (4).
    """
    allowed = ("width", "blocks", "hidden", "feature_dim", "pool")
    _reject_options("small-cnn", options, allowed)
    width = _positive_int("small-cnn", options, "width", 32)
    blocks = _positive_int("small-cnn", options, "blocks", 3)
    hidden = _positive_int("small-cnn", options, "hidden", 512)
    feature_dim = _positive_int("small-cnn", options, "feature_dim", 256)
    pool = _positive_int("small-cnn", options, "pool", 4)
    layers = tuple(
        layer for block in range(blocks) for layer in ((width * 2**block, 3, 1, 1), POOL)
    )
    _check_inputs("small-cnn", in_channels, image_size, min_image_size(layers, VGG_POOL))
    from torch import nn

    features, _, block_ends = _conv_body(layers, VGG_POOL, in_channels)
    last_channels = width * 2 ** (blocks - 1)
    classifier = nn.Sequential(
        nn.Linear(last_channels * pool * pool, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, feature_dim),
    )
    probes = {f"block{i}": index for i, index in enumerate(block_ends, start=1)}
    model = _conv_backbone_class()(
        features, nn.AdaptiveAvgPool2d(pool), classifier, feature_dim, probes
    )
    _init_reference(model)
    return model


@hookimpl
def register_backbones(register: Callable[..., None]) -> None:
    register(
        "alexnet",
        make_alexnet,
        description="DeepCluster's AlexNet with BatchNorm (fc7, 4096-d; images >= "
        f"{min_image_size(ALEXNET_LAYERS, ALEXNET_POOL)} px)",
    )
    register(
        "vgg16",
        make_vgg16,
        description="VGG16 with BatchNorm (fc7, 4096-d; images >= "
        f"{min_image_size(VGG16_LAYERS, VGG_POOL)} px)",
    )
    register(
        "small-cnn",
        make_small_cnn,
        description="small fast CNN for small images (options width, blocks, feature_dim)",
    )
