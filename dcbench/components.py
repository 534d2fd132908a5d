"""The contracts a component must meet, whoever registers it.

Factories registered through the hooks return objects with these shapes. They are
Protocols (structural), so a third-party plugin needs no dcbench base class; the few
dataclasses here are the values components hand back to the loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # torch stays out of `import dcbench` so the CLI starts fast
    import torch
    from torch import nn


@runtime_checkable
class ImageDataset(Protocol):
    """Images plus optional labels; labels feed evaluators only, never training.

    ``get_image(i)`` returns a ``uint8`` tensor of shape ``(3, H, W)`` (grey images are
    repeated to three channels). ``targets`` holds integer labels or is ``None``.
    ``test_mask`` marks the data set's own held-out split when it has one.
    ``recipe`` holds run defaults measured for this data (the small-data recipe);
    options the user gives always win over it.
    """

    name: str
    num_classes: int | None
    native_size: int
    targets: np.ndarray | None
    test_mask: np.ndarray | None
    recipe: Mapping[str, Any]

    def __len__(self) -> int: ...

    def get_image(self, index: int) -> torch.Tensor: ...


@runtime_checkable
class Preprocessor(Protocol):
    """An ``nn.Module`` on normalised RGB batches ``(B, 3, H, W)``.

    Returns ``(B, out_channels, H, W)``; fixed (no trainable parameters).
    """

    out_channels: int

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Backbone(Protocol):
    """The convnet DeepCluster trains, without its top layer.

    ``forward(x)`` maps ``(B, in_channels, S, S)`` to the penultimate features
    ``(B, feature_dim)`` *before* their final activation (what the paper clusters).
    ``head_activation`` is applied to them before the top layer during training
    (ReLU for AlexNet/VGG, Identity when the features are already pooled).
    ``probe_layers()`` names the modules whose outputs (post-activation feature maps)
    a linear probe taps, in network order.
    """

    feature_dim: int
    head_activation: nn.Module

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

    def probe_layers(self) -> dict[str, nn.Module]: ...


@dataclass
class ClusteringResult:
    """What a clusterer returns: one pseudo-label per image plus its statistics."""

    labels: np.ndarray  # int64, shape (N,), values in [0, num_clusters)
    num_clusters: int  # clusters in the result (k for k-means, data-driven for PIC)
    objective: float | None = None  # e.g. k-means sum of squared distances
    empty_clusters_fixed: int = 0  # empty clusters repaired by splitting a large one
    extra: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Clusterer(Protocol):
    """Clusters the reduced (PCA + L2) features. ``uses_k`` is False for PIC."""

    uses_k: bool

    def cluster(self, features: np.ndarray, *, seed: int) -> ClusteringResult: ...


@dataclass(frozen=True)
class Metric:
    """A named measurement with its direction, so tables can pick the best."""

    name: str
    value: float
    higher_is_better: bool = True


@dataclass
class EvalContext:
    """Everything an evaluator may look at after an epoch's clustering."""

    epoch: int
    final: bool  # True for the pass after the last training epoch
    pseudo_labels: np.ndarray
    previous_pseudo_labels: np.ndarray | None
    true_labels: np.ndarray | None
    features: np.ndarray  # the reduced features the clusterer saw
    model: Any  # the trainable network (preprocess + backbone), in eval mode
    dataset: ImageDataset
    device: str
    seed: int
    settings: Mapping[str, Any]


@runtime_checkable
class Evaluator(Protocol):
    """Returns metrics for one epoch.

    ``per_epoch`` evaluators (cheap, e.g. NMI) run every epoch; the others run after the
    last epoch and every ``--eval-every`` epochs. ``needs_labels`` evaluators are skipped
    with a note on unlabelled data.
    """

    per_epoch: bool
    needs_labels: bool

    def evaluate(self, context: EvalContext) -> list[Metric]: ...


@runtime_checkable
class ResultSink(Protocol):
    """Receives result rows as the run produces them.

    ``write_epoch`` gets one wide row per epoch (see docs/results.md);
    ``write_summary`` gets the final metrics in long form, one row per metric with
    ``metric``, ``value`` and ``higher_is_better``.
    """

    def write_epoch(self, row: Mapping[str, Any]) -> None: ...

    def write_summary(self, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def close(self) -> None: ...
