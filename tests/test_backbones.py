"""Backbones: shapes, reference init, probe layers, size limits, the timm name space."""

from __future__ import annotations

import functools
import math
import pickle
from collections.abc import Callable

import pytest
import torch
from torch import nn

from dcbench.errors import ConfigError, UnknownComponentError
from dcbench.plugin_manager import load_components
from dcbench.plugins import backbones
from dcbench.plugins.backbones import make_alexnet, make_small_cnn, make_vgg16
from dcbench.plugins.timm_backbones import make_timm_backbone


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


FACTORIES: dict[str, Callable[..., nn.Module]] = {
    "alexnet": make_alexnet,
    "vgg16": make_vgg16,
    "small-cnn": make_small_cnn,
}
SMALLEST = {"alexnet": 64, "vgg16": 32, "small-cnn": 8}


@functools.cache
def _model(name: str, channels: int) -> nn.Module:
    """One untrained model per kind and channel count, shared: VGG16 takes seconds to build."""
    torch.manual_seed(0)
    return FACTORIES[name](in_channels=channels, image_size=SMALLEST[name])


def _features(model: nn.Module, channels: int, size: int, batch: int = 1) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(torch.randn(batch, channels, size, size))


@pytest.mark.parametrize("channels", [2, 3])
@pytest.mark.parametrize(
    ("name", "sizes", "feature_dim"),
    [
        ("alexnet", (64, 224), 4096),
        ("vgg16", (32, 40), 4096),  # VGG16 is slow on CPU: small sizes only
        ("small-cnn", (8, 32), 256),
    ],
    ids=["alexnet", "vgg16", "small-cnn"],
)
def test_output_shape_and_contract(
    name: str, sizes: tuple[int, int], feature_dim: int, channels: int
) -> None:
    model = _model(name, channels)
    assert model.feature_dim == feature_dim
    assert isinstance(model.head_activation, nn.ReLU)
    for size in sizes:
        assert _features(model, channels, size).shape == (1, feature_dim)


def test_forward_returns_features_before_the_final_relu() -> None:
    features = _features(make_small_cnn(in_channels=3, image_size=32), 3, 32, batch=8)
    assert (features < 0).any()


def test_small_cnn_options() -> None:
    model = make_small_cnn(in_channels=2, image_size=16, width=8, blocks=4, feature_dim=64)
    assert model.feature_dim == 64
    assert list(model.probe_layers()) == ["block1", "block2", "block3", "block4"]
    assert _features(model, 2, 16).shape == (1, 64)
    with pytest.raises(ConfigError, match="width must be a positive integer"):
        make_small_cnn(in_channels=3, image_size=32, width=0)
    with pytest.raises(ConfigError, match="does not take option"):
        make_small_cnn(in_channels=3, image_size=32, depth=3)


def test_reference_init_statistics() -> None:
    model = _model("alexnet", 2)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5
    for conv in convs:
        fan_out = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
        assert conv.weight.std().item() == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.1)
        assert torch.count_nonzero(conv.bias) == 0
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        assert torch.all(bn.weight == 1) and torch.count_nonzero(bn.bias) == 0
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [lin.in_features for lin in linears] == [256 * 6 * 6, 4096]
    for linear in linears:
        assert linear.weight.std().item() == pytest.approx(0.01, rel=0.02)
        assert torch.count_nonzero(linear.bias) == 0


@pytest.mark.parametrize(
    ("name", "probe_channels"),
    [
        ("alexnet", {"conv1": 96, "conv2": 256, "conv3": 384, "conv4": 384, "conv5": 256}),
        ("vgg16", {"block1": 64, "block2": 128, "block3": 256, "block4": 512, "block5": 512}),
        ("small-cnn", {"block1": 32, "block2": 64, "block3": 128}),
    ],
    ids=["alexnet", "vgg16", "small-cnn"],
)
def test_probe_layers_are_post_relu_maps_in_network_order(
    name: str, probe_channels: dict[str, int]
) -> None:
    names = list(probe_channels)
    model = _model(name, 2)
    probes = model.probe_layers()
    assert list(probes) == names
    seen: list[str] = []
    maps: dict[str, torch.Tensor] = {}
    handles = []
    for probe, module in probes.items():
        assert isinstance(module, nn.ReLU)

        def hook(_module, _inputs, output, probe=probe) -> None:
            seen.append(probe)
            maps[probe] = output.detach().clone()

        handles.append(module.register_forward_hook(hook))
    try:
        _features(model, 2, SMALLEST[name])
    finally:
        for handle in handles:
            handle.remove()
    assert seen == names
    for probe, output in maps.items():
        assert output.shape[1] == probe_channels[probe]
        assert output.ndim == 4 and output.min() >= 0 and output.max() > 0


@pytest.mark.parametrize(
    ("factory", "name", "minimum"),
    [(make_alexnet, "alexnet", 63), (make_vgg16, "vgg16", 32), (make_small_cnn, "small-cnn", 8)],
)
def test_too_small_image_is_a_config_error_at_the_exact_boundary(
    factory: Callable[..., nn.Module], name: str, minimum: int
) -> None:
    message = f"backbone '{name}' needs images of at least {minimum} px; got {minimum - 1}"
    with pytest.raises(ConfigError, match=message):
        factory(in_channels=2, image_size=minimum - 1)


@pytest.mark.parametrize(
    ("layers", "pool", "minimum"),
    [
        (backbones.ALEXNET_LAYERS, backbones.ALEXNET_POOL, 63),
        (backbones.VGG16_LAYERS, backbones.VGG_POOL, 32),
    ],
    ids=["alexnet", "vgg16"],
)
def test_size_arithmetic_matches_a_real_forward(layers, pool, minimum: int) -> None:
    assert backbones.min_image_size(layers, pool) == minimum
    body, _, _ = backbones._conv_body(layers, pool, in_channels=2)
    body.eval()
    with torch.no_grad():
        assert body(torch.zeros(1, 2, minimum, minimum)).shape[-1] == 1
        with pytest.raises(RuntimeError):
            body(torch.zeros(1, 2, minimum - 1, minimum - 1))


def test_bad_inputs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="in_channels must be a positive integer"):
        make_small_cnn(in_channels=0, image_size=32)
    with pytest.raises(ConfigError, match="does not take option"):
        make_alexnet(in_channels=3, image_size=64, width=2)


def test_backbone_pickles() -> None:
    model = make_small_cnn(in_channels=2, image_size=32)
    copy = pickle.loads(pickle.dumps(model))
    assert isinstance(copy, backbones.ConvBackbone)
    assert list(copy.probe_layers()) == ["block1", "block2", "block3"]
    images = torch.randn(2, 2, 32, 32)
    assert torch.equal(copy.eval()(images), model.eval()(images))


# --- timm ------------------------------------------------------------------------


def test_timm_resnet18_builds_offline_with_two_channels() -> None:
    model = make_timm_backbone(name="resnet18", in_channels=2, image_size=32)
    assert model.feature_dim == 512
    assert isinstance(model.head_activation, nn.Identity)
    assert list(model.probe_layers()) == ["act1", "layer1", "layer2", "layer3", "layer4"]
    assert _features(model, 2, 32).shape == (1, 512)


def test_timm_unknown_model_suggests_the_nearest() -> None:
    with pytest.raises(UnknownComponentError, match="Did you mean timm:resnet18"):
        make_timm_backbone(name="resnet81", in_channels=3, image_size=32)


def test_timm_refuses_weights_and_bad_sizes() -> None:
    with pytest.raises(ConfigError, match="never loads weights"):
        make_timm_backbone(name="resnet18", in_channels=3, image_size=32, pretrained=True)
    with pytest.raises(ConfigError, match="cannot take 32 px images"):
        make_timm_backbone(name="vit_tiny_patch16_224", in_channels=3, image_size=32, depth=1)


def test_registered_through_the_plugin_manager() -> None:
    components = load_components()
    registry = components.registry("backbone")
    assert {"alexnet", "vgg16", "small-cnn", "timm:*"} <= set(registry.names())
    assert "timm:resnet18" in registry.names("timm:resnet1*")
    model = components.create("backbone", "small-cnn", in_channels=2, image_size=32)
    assert model.feature_dim == 256
    resnet = components.create("backbone", "timm:resnet18", in_channels=3, image_size=32)
    assert resnet.feature_dim == 512
