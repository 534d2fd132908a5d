"""The preprocessors: Sobel exactly as the reference, colour as the identity."""

from __future__ import annotations

import pickle

import pytest
import torch

from dcbench.errors import ConfigError
from dcbench.plugin_manager import load_components
from dcbench.plugins.preprocess import make_color, make_sobel


def test_sobel_weights_are_the_reference_values_and_frozen() -> None:
    sobel = make_sobel()
    grayscale, edges = sobel[0], sobel[1]
    assert sobel.out_channels == 2
    assert grayscale.weight.shape == (1, 3, 1, 1)
    assert torch.equal(grayscale.weight, torch.full((1, 3, 1, 1), 1.0 / 3.0))
    expected = torch.tensor(
        [
            [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]],
            [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]],
        ]
    ).unsqueeze(1)
    assert torch.equal(edges.weight, expected)
    assert edges.padding == (1, 1)
    assert torch.count_nonzero(grayscale.bias) == 0
    assert torch.count_nonzero(edges.bias) == 0
    assert not any(p.requires_grad for p in sobel.parameters())


def test_sobel_responds_to_a_vertical_edge_only_horizontally() -> None:
    # Left half 0, right half 1 in every colour channel: a vertical edge between
    # columns 3 and 4. The kernels correlate, so the response is -(1 + 2 + 1) = -4.
    image = torch.zeros(1, 3, 8, 8)
    image[..., 4:] = 1.0
    out = make_sobel()(image)
    assert out.shape == (1, 2, 8, 8)
    interior = out[0, :, 1:-1, :]  # rows away from the zero padding
    assert torch.allclose(interior[0, :, 3], torch.full((6,), -4.0))
    assert torch.allclose(interior[0, :, 4], torch.full((6,), -4.0))
    assert torch.allclose(interior[0, :, :3], torch.zeros(6, 3))
    assert torch.allclose(interior[1], torch.zeros(6, 8))


def test_color_is_the_identity() -> None:
    color = make_color()
    images = torch.randn(4, 3, 16, 16)
    assert color.out_channels == 3
    assert torch.equal(color(images), images)


def test_preprocessors_pickle_with_their_channel_count() -> None:
    sobel = pickle.loads(pickle.dumps(make_sobel()))
    assert sobel.out_channels == 2
    assert not any(p.requires_grad for p in sobel.parameters())


@pytest.mark.parametrize("factory", [make_sobel, make_color])
def test_unknown_option_is_a_config_error(factory) -> None:
    with pytest.raises(ConfigError, match="takes no options"):
        factory(strength=2)


def test_registered_through_the_plugin_manager() -> None:
    components = load_components()
    assert components.create("preprocessor", "sobel").out_channels == 2
    assert components.create("preprocessor", "colour").out_channels == 3
