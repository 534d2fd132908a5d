"""Evaluators on frozen features: a linear probe per conv layer, and weighted kNN.

Both read the network as it is after an epoch (eval mode, no gradients) and measure
how well its features separate the true classes on a held-out split: the paper's
Table 1 protocol (linear classifiers on pooled conv maps) and the common modern SSL
check (kNN on the L2-normalised penultimate features). They share one seeded split,
so their numbers are comparable, and each makes exactly one pass over the data.

Memory: the probe keeps every layer's pooled features of every image in RAM, that is
``N x sum(layer dims)`` float32 (about 185 MB for ``digits`` with ``small-cnn`` at
32 px; ImageNet would need a streaming trainer instead). kNN keeps ``N x feature_dim``.

torch is imported inside functions only, so importing this module stays cheap.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from dcbench import hookimpl
from dcbench.components import EvalContext, Metric
from dcbench.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

# Option name -> (default, integer?, lowest, highest). The runner routes
# ``--opt evaluator.<name>.<key>=<value>`` to evaluator <name> only.
OptionSpec = dict[str, tuple[Any, bool, float, float]]
SPLIT_OPTIONS: OptionSpec = {"test_fraction": (0.2, False, 1e-6, 1 - 1e-6)}


def parse_options(evaluator: str, options: Mapping[str, Any], spec: OptionSpec) -> dict[str, Any]:
    """The defaults of ``spec`` updated with ``options``, each checked against its range."""
    unknown = sorted(set(options) - set(spec))
    if unknown:
        near = difflib.get_close_matches(unknown[0], list(spec), n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise ConfigError(
            f"evaluator {evaluator!r} does not take option(s) {', '.join(unknown)}{hint}; "
            f"it takes: {', '.join(spec)}"
        )
    values = {}
    for key, (default, integer, low, high) in spec.items():
        value = options.get(key, default)
        kind = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            what = "an integer" if integer else "a number"
            raise ConfigError(
                f"evaluator {evaluator!r}: {key} must be {what} in [{low:g}, {high:g}]; "
                f"got {value!r}"
            )
        values[key] = value if integer else float(value)
    return values


# --- shared: split and one-pass feature extraction -----------------------------------


def train_test_split(
    targets: np.ndarray, test_mask: np.ndarray | None, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the train and the held-out images.

    The data set's own split (``test_mask``) when it has one; otherwise a seeded split
    stratified by class: ``round(test_fraction * n_c)`` images of each class ``c`` are
    held out (at least one image overall), the same for every epoch and evaluator.
    """
    if test_mask is not None:
        mask = np.asarray(test_mask, dtype=bool)
        return np.flatnonzero(~mask), np.flatnonzero(mask)
    rng = np.random.default_rng([seed, 0x5EED])
    held_out = []
    for label in np.unique(targets):
        members = rng.permutation(np.flatnonzero(targets == label))
        held_out.append(members[: math.floor(test_fraction * len(members) + 0.5)])
    test = np.concatenate(held_out) if held_out else np.empty(0, dtype=np.int64)
    if len(test) == 0 and len(targets) > 1:
        test = rng.choice(len(targets), size=1)
    mask = np.zeros(len(targets), dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def _split_for(evaluator: str, context: EvalContext, options: Mapping[str, Any]):
    targets = np.asarray(context.true_labels)
    train, test = train_test_split(
        targets,
        getattr(context.dataset, "test_mask", None),
        options["test_fraction"],
        context.seed,
    )
    if len(train) == 0 or len(test) == 0:
        raise ConfigError(
            f"evaluator {evaluator!r} needs images in both splits; got {len(train)} train "
            f"and {len(test)} held-out of {len(targets)}"
        )
    return targets, train, test


def split_metrics(train: np.ndarray, test: np.ndarray) -> list[Metric]:
    """The split sizes, recorded next to the scores (direction meaningless: True)."""
    return [
        Metric("eval_split_train", float(len(train))),
        Metric("eval_split_test", float(len(test))),
    ]


def pool_size(channels: int, height: int, width: int, max_dims: int) -> tuple[int, int]:
    """The largest ``s x s`` grid (capped at the map's own size) with C*s*s <= max_dims.

    The reference pools AlexNet's conv maps at 224 px to about 9-10k dims (conv1:
    96 x 10 x 10); this keeps every layer at most ``max_dims`` at any image size (a
    layer with more channels than ``max_dims`` is pooled to 1 x 1, C dims).
    """
    side = max(1, math.isqrt(max(max_dims // max(channels, 1), 1)))
    return min(side, height), min(side, width)


def _pooled(output: Any, max_dims: int) -> torch.Tensor:
    """A layer's output as ``(B, dims)`` float32: maps average-pooled, tokens averaged."""
    import torch.nn.functional as F

    if isinstance(output, (tuple, list)):
        output = output[0]
    if output.ndim == 4:  # (B, C, H, W)
        size = pool_size(output.shape[1], output.shape[2], output.shape[3], max_dims)
        output = F.adaptive_avg_pool2d(output, size)
    elif output.ndim == 3:  # (B, tokens, C), e.g. a transformer block
        output = output.mean(dim=1)
    return output.flatten(1).float()


def extract(
    context: EvalContext,
    layers: Mapping[str, nn.Module],
    max_dims: int,
    *,
    penultimate: bool,
) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """One eval-mode pass over all images: ``model(x)`` and each layer's pooled output.

    Images go through the same deterministic view the clustering saw (resize + centre
    crop). Arrays are filled batch by batch; nothing else is kept.
    """
    import torch

    from dcbench.config import RunConfig
    from dcbench.data import feature_batches

    config = RunConfig.from_dict(context.settings)
    model = context.model
    model.eval()
    n = len(context.dataset)
    device = torch.device(context.device)
    batches = feature_batches(context.dataset, np.arange(n), config, device, context.seed)
    captured: dict[str, torch.Tensor] = {}

    def capture(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            captured[name] = _pooled(output, max_dims).cpu()  # pooled at once: a copy

        return hook

    handles = [module.register_forward_hook(capture(name)) for name, module in layers.items()]
    outputs: np.ndarray | None = None
    per_layer: dict[str, np.ndarray] = {}
    try:
        with torch.no_grad():
            for indices, batch in batches:
                out = model(batch).flatten(1).float().cpu()
                rows = indices.numpy()
                if penultimate:
                    if outputs is None:
                        outputs = np.empty((n, out.shape[1]), dtype=np.float32)
                    outputs[rows] = out.numpy()
                for name, pooled in captured.items():
                    if name not in per_layer:
                        per_layer[name] = np.empty((n, pooled.shape[1]), dtype=np.float32)
                    per_layer[name][rows] = pooled.numpy()
                captured.clear()
    finally:
        for handle in handles:
            handle.remove()
    return outputs, per_layer


# --- linear probe -------------------------------------------------------------------

PROBE_OPTIONS: OptionSpec = {
    "max_dims": (9216, True, 1, 1e9),
    "epochs": (20, True, 1, 1e6),
    "lr": (0.01, False, 1e-12, 1e6),
    "wd": (1e-4, False, 0, 1e6),
    "batch_size": (256, True, 1, 1e9),
    **SPLIT_OPTIONS,
}


def metric_name(layer: str) -> str:
    return "probe_" + re.sub(r"[^A-Za-z0-9]+", "_", layer).strip("_")


def train_linear(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    num_classes: int,
    *,
    epochs: int,
    lr: float,
    wd: float,
    batch_size: int,
    seed: int,
) -> nn.Linear:
    """Multinomial logistic regression by mini-batch SGD, momentum 0.9, cosine lr.

    Weights start at zero and batches come from a seeded generator: the same inputs
    give the same classifier, and the global RNG (which the training loop's
    augmentation draws from) is left untouched.
    """
    import torch
    from torch import nn
    from torch.nn.utils import skip_init

    classifier = skip_init(nn.Linear, train_x.shape[1], num_classes, device=train_x.device)
    nn.init.zeros_(classifier.weight)
    nn.init.zeros_(classifier.bias)
    optimizer = torch.optim.SGD(classifier.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
    steps_per_epoch = math.ceil(len(train_x) / batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(len(train_x), generator=generator).to(train_x.device)
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                loss = loss_fn(classifier(train_x[batch]), train_y[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
    return classifier


class LinearProbeEvaluator:
    """Top-1 of a linear classifier per probe layer, trained on frozen pooled features.

    Metrics: ``probe_<layer>`` (held-out top-1 in [0, 1]) for every layer of
    ``backbone.probe_layers()``, ``probe_best`` (their maximum) and the split sizes
    ``eval_split_train`` / ``eval_split_test``.
    """

    per_epoch = False
    needs_labels = True

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)

    def evaluate(self, context: EvalContext) -> list[Metric]:
        import torch

        opts = self.options
        targets, train, test = _split_for("linear-probe", context, opts)
        layers = context.model.backbone.probe_layers()
        if not layers:
            raise ConfigError("evaluator 'linear-probe': the backbone exposes no probe layers")
        _, features = extract(context, layers, opts["max_dims"], penultimate=False)
        device = torch.device(context.device)
        num_classes = int(targets.max()) + 1
        train_y = torch.from_numpy(targets[train]).to(device)
        test_y = torch.from_numpy(targets[test]).to(device)
        metrics = []
        for index, (layer, values) in enumerate(features.items()):
            mean = values[train].mean(axis=0)
            std = values[train].std(axis=0) + 1e-6  # constant (dead) units stay at zero
            standardised = torch.from_numpy((values - mean) / std).to(device)
            classifier = train_linear(
                standardised[train],
                train_y,
                num_classes,
                epochs=opts["epochs"],
                lr=opts["lr"],
                wd=opts["wd"],
                batch_size=opts["batch_size"],
                seed=context.seed + index,
            )
            with torch.no_grad():
                predicted = classifier(standardised[test]).argmax(dim=1)
            accuracy = float((predicted == test_y).float().mean())
            metrics.append(Metric(metric_name(layer), accuracy))
            del standardised, values
        metrics.append(Metric("probe_best", max(m.value for m in metrics)))
        return metrics + split_metrics(train, test)


def make_linear_probe(**options: Any) -> LinearProbeEvaluator:
    """Options (``--opt evaluator.linear-probe.<key>=<value>``): max_dims (9216), epochs
    (20), lr (0.01), wd (1e-4), batch_size (256), test_fraction (0.2, used when the data
    set has no split of its own)."""
    return LinearProbeEvaluator(parse_options("linear-probe", options, PROBE_OPTIONS))


# --- weighted kNN -------------------------------------------------------------------

KNN_OPTIONS: OptionSpec = {
    "k": (20, True, 1, 1e9),
    "temperature": (0.07, False, 1e-9, 1e9),
    **SPLIT_OPTIONS,
}


def weighted_knn_predict(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    num_classes: int,
    k: int,
    temperature: float,
    chunk: int = 1024,
) -> torch.Tensor:
    """Class of each test row by temperature-weighted votes of its k nearest neighbours.

    Rows must be L2-normalised: similarity is the dot product (cosine). A neighbour at
    similarity ``s`` votes ``exp(s / temperature)`` for its class (Wu et al. 2018, as in
    DINO's eval_knn). Test rows go in chunks, so memory is ``chunk x N_train``.
    """
    import torch

    k = min(k, len(train_x))
    predictions = []
    for start in range(0, len(test_x), chunk):
        similarity = test_x[start : start + chunk] @ train_x.T
        top_sim, top_index = similarity.topk(k, dim=1)
        weights = (top_sim / temperature).exp()
        votes = torch.zeros(len(top_sim), num_classes, device=test_x.device, dtype=weights.dtype)
        votes.scatter_add_(1, train_y[top_index], weights)
        predictions.append(votes.argmax(dim=1))
    return torch.cat(predictions)


class KNNEvaluator:
    """Weighted kNN top-1 on L2-normalised penultimate features ``model(x)``.

    ``model(x)`` is the backbone's output *before* its head activation, i.e. the very
    features the clusterer sees before PCA (fc7 pre-ReLU for AlexNet/VGG16).
    Metrics: ``knn_top1`` in [0, 1], ``eval_split_train``, ``eval_split_test``.
    """

    per_epoch = False
    needs_labels = True

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)

    def evaluate(self, context: EvalContext) -> list[Metric]:
        import torch
        import torch.nn.functional as F

        opts = self.options
        targets, train, test = _split_for("knn", context, opts)
        outputs, _ = extract(context, {}, 0, penultimate=True)
        device = torch.device(context.device)
        features = F.normalize(torch.from_numpy(outputs).to(device), dim=1)
        labels = torch.from_numpy(targets).to(device)
        predicted = weighted_knn_predict(
            features[train],
            labels[train],
            features[test],
            int(targets.max()) + 1,
            opts["k"],
            opts["temperature"],
        )
        accuracy = float((predicted == labels[test]).float().mean())
        return [Metric("knn_top1", accuracy), *split_metrics(train, test)]


def make_knn(**options: Any) -> KNNEvaluator:
    """Options (``--opt evaluator.knn.<key>=<value>``): k (20), temperature (0.07),
    test_fraction (0.2)."""
    return KNNEvaluator(parse_options("knn", options, KNN_OPTIONS))


@hookimpl
def register_evaluators(register: Callable[..., None]) -> None:
    register(
        "linear-probe",
        make_linear_probe,
        description="top-1 of a linear classifier per conv layer on frozen pooled features",
    )
    register(
        "knn",
        make_knn,
        description="weighted 20-NN top-1 on L2-normalised penultimate features",
    )
