"""Built-in batch preprocessors: the paper's fixed Sobel filter, and plain colour.

Both are stock torch modules (no dcbench subclass) carrying an ``out_channels``
attribute, so they pickle and load anywhere. Torch is imported inside the factories.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dcbench import hookimpl
from dcbench.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

# DeepCluster's Sobel kernels (reference models/alexnet.py): horizontal, then vertical.
SOBEL_KERNELS = (
    ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0)),
    ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0)),
)


def _reject_options(name: str, options: Mapping[str, Any]) -> None:
    if options:
        raise ConfigError(
            f"preprocessor {name!r} takes no options; got {', '.join(sorted(options))}"
        )


def make_sobel(**options: Any) -> nn.Module:
    """Grayscale (1x1 conv, weights 1/3) then the two Sobel filters, frozen.

    Applied after mean/std normalisation, exactly as the reference does; removing colour
    keeps k-means from clustering on colour alone.
    """
    _reject_options("sobel", options)
    import torch
    from torch import nn

    grayscale = nn.Conv2d(3, 1, kernel_size=1)
    sobel = nn.Conv2d(1, 2, kernel_size=3, padding=1)
    with torch.no_grad():
        grayscale.weight.fill_(1.0 / 3.0)
        grayscale.bias.zero_()
        sobel.weight.copy_(torch.tensor(SOBEL_KERNELS).unsqueeze(1))
        sobel.bias.zero_()
    module = nn.Sequential(grayscale, sobel)
    module.requires_grad_(False)
    module.out_channels = 2
    return module


def make_color(**options: Any) -> nn.Module:
    """The normalised RGB image unchanged (the paper's no-Sobel ablation)."""
    _reject_options("color", options)
    from torch import nn

    module = nn.Identity()
    module.out_channels = 3
    return module


@hookimpl
def register_preprocessors(register: Callable[..., None]) -> None:
    register(
        "sobel",
        make_sobel,
        description="frozen grayscale + Sobel filters (3 -> 2 channels), as in the paper",
    )
    register(
        "color",
        make_color,
        description="normalised RGB unchanged (3 channels)",
        aliases=("colour",),
    )
