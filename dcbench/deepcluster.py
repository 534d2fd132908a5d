"""The DeepCluster loop, as separate phases over one explicit run state.

One epoch: features -> PCA/L2 -> cluster -> evaluate -> sample -> train. Every phase is
a function of its own (timed, swappable); everything that must survive a restart lives
in :class:`RunState` (model, body optimiser, pseudo-labels, epoch table), and all
randomness is derived from ``(seed, epoch)`` so a resumed run gives the same numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from dcbench.components import (
    Clusterer,
    ClusteringResult,
    EvalContext,
    Evaluator,
    ImageDataset,
    Metric,
)
from dcbench.config import RunConfig
from dcbench.data import feature_batches, training_batches
from dcbench.errors import ConfigError
from dcbench.features import reduce_features
from dcbench.progress import Reporter, SilentReporter
from dcbench.sampling import uniform_over_labels


class DeepClusterNet(nn.Module):
    """Preprocessing (Sobel or colour) in front of the backbone, as in the reference."""

    def __init__(self, preprocess: nn.Module, backbone: nn.Module) -> None:
        super().__init__()
        self.preprocess = preprocess
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate features before their final activation (what is clustered)."""
        return self.backbone(self.preprocess(images))

    def classify(self, images: torch.Tensor, top_layer: nn.Module) -> torch.Tensor:
        return top_layer(self.backbone.head_activation(self(images)))


@dataclass
class Components:
    """The built components of one run (rebuilt on resume, never serialised)."""

    dataset: ImageDataset
    clusterer: Clusterer
    evaluators: dict[str, Evaluator]


@dataclass
class RunState:
    """Everything a run needs to continue after a kill: one serialisable object."""

    config: RunConfig
    model: DeepClusterNet
    body_optimizer: torch.optim.Optimizer
    epoch: int = 0  # training epochs completed
    pseudo_labels: np.ndarray | None = None  # the last clustering's labels
    epoch_rows: list[dict[str, Any]] = field(default_factory=list)
    # Only for the supervised baseline: a classifier kept (and trained) across epochs.
    supervised_head: nn.Linear | None = None

    def state_dict(self) -> dict[str, Any]:
        head = self.supervised_head
        return {
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "supervised_head": head.state_dict() if head is not None else None,
            "body_optimizer": self.body_optimizer.state_dict(),
            "epoch": self.epoch,
            "pseudo_labels": self.pseudo_labels,
            "epoch_rows": self.epoch_rows,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.supervised_head is not None:
            self.supervised_head.load_state_dict(state["supervised_head"])
        self.body_optimizer.load_state_dict(state["body_optimizer"])
        self.epoch = int(state["epoch"])
        self.pseudo_labels = state["pseudo_labels"]
        self.epoch_rows = list(state["epoch_rows"])


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was requested but no CUDA device is available")
    return torch.device(requested)


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A fresh, reproducible seed per (run seed, epoch, purpose)."""
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def new_state(config: RunConfig, model: DeepClusterNet, num_classes: int | None = None) -> RunState:
    """A fresh run state; the body optimiser lives for the whole run (momentum 0.9).

    For the supervised baseline the classifier is part of the model for the whole run
    and shares the body's optimiser, as in ordinary supervised training.
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    head = None
    if config.supervised:
        if not num_classes:
            raise ConfigError("--supervised needs a data set with labels")
        device = next(model.parameters()).device
        head = new_top_layer(model.backbone.feature_dim, num_classes, device)
        trainable += list(head.parameters())
    optimizer = torch.optim.SGD(
        trainable, lr=config.lr, momentum=config.momentum, weight_decay=config.wd
    )
    return RunState(config=config, model=model, body_optimizer=optimizer, supervised_head=head)


# --- phases -------------------------------------------------------------------------


@torch.no_grad()
def compute_features(
    model: DeepClusterNet,
    dataset: ImageDataset,
    config: RunConfig,
    device: torch.device,
    seed: int,
    advance: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Eval-mode features of every image, PCA-whitened and L2-normalised (N, pca_dim)."""
    model.eval()
    order = np.random.default_rng(seed).permutation(len(dataset))  # uniform PCA sample

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for indices, images in feature_batches(dataset, order, config, device, seed):
            yield indices, model(images)

    return reduce_features(
        batches(), len(dataset), config.pca_dim, config.pca_fit_samples, on_batch=advance
    )


def cluster(clusterer: Clusterer, features: np.ndarray, seed: int) -> ClusteringResult:
    result = clusterer.cluster(features, seed=seed)
    result.labels = np.asarray(result.labels, dtype=np.int64)
    return result


def new_top_layer(feature_dim: int, num_clusters: int, device: torch.device) -> nn.Linear:
    """A fresh classifier per epoch, initialised as the reference: N(0, 0.01), bias 0."""
    top_layer = nn.Linear(feature_dim, num_clusters)
    nn.init.normal_(top_layer.weight, mean=0.0, std=0.01)
    nn.init.zeros_(top_layer.bias)
    return top_layer.to(device)


def train_epoch(
    state: RunState,
    dataset: ImageDataset,
    pseudo_labels: np.ndarray,
    num_clusters: int,
    device: torch.device,
    seed: int,
    advance: Callable[[int], None] | None = None,
) -> float:
    """One pass over ``N`` images sampled uniformly over pseudo-labels; mean loss.

    The supervised baseline passes the true labels and trains its persistent head.
    """
    config = state.config
    rng = np.random.default_rng(seed)
    indices = uniform_over_labels(pseudo_labels, rng)
    batches = training_batches(dataset, indices, pseudo_labels, config, device, seed)

    model = state.model
    if state.supervised_head is not None:
        top_layer: nn.Module = state.supervised_head
        top_optimizer = None
    else:
        top_layer = new_top_layer(model.backbone.feature_dim, num_clusters, device)
        # The top layer's optimiser has no momentum and is re-created every epoch.
        top_optimizer = torch.optim.SGD(
            top_layer.parameters(), lr=config.lr, weight_decay=config.wd
        )
    criterion = nn.CrossEntropyLoss()
    model.train()
    total_loss, total_seen = 0.0, 0
    for batch, targets in batches:
        loss = criterion(model.classify(batch, top_layer), targets)
        state.body_optimizer.zero_grad(set_to_none=True)
        if top_optimizer is not None:
            top_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.body_optimizer.step()
        if top_optimizer is not None:
            top_optimizer.step()
        total_loss += float(loss.detach()) * len(batch)
        total_seen += len(batch)
        if advance is not None:
            advance(len(batch))
    return total_loss / max(total_seen, 1)


def evaluate(
    evaluators: Mapping[str, Evaluator],
    context: EvalContext,
    reporter: Reporter,
    run_all: bool,
) -> list[Metric]:
    """Per-epoch evaluators always; the others on the final pass and every N epochs."""
    metrics: list[Metric] = []
    for name, evaluator in evaluators.items():
        if not (evaluator.per_epoch or run_all):
            continue
        if evaluator.needs_labels and context.true_labels is None:
            if context.final:
                reporter.note(f"evaluator {name!r} skipped: the data set has no labels")
            continue
        context.model.eval()
        metrics.extend(evaluator.evaluate(context))
    return metrics


def cluster_size_stats(labels: np.ndarray, num_clusters: int) -> dict[str, float]:
    sizes = np.bincount(labels, minlength=num_clusters)
    non_empty = sizes[sizes > 0]
    return {
        "num_clusters": len(non_empty),
        "empty_clusters": int(num_clusters - len(non_empty)),
        "cluster_size_min": int(non_empty.min()),
        "cluster_size_median": float(np.median(non_empty)),
        "cluster_size_max": int(non_empty.max()),
    }


# --- the loop -----------------------------------------------------------------------


@dataclass
class EpochHooks:
    """Callbacks the runner uses to persist each epoch as soon as it is complete."""

    on_epoch: Callable[[RunState, dict[str, Any]], None] = lambda state, row: None
    metric_directions: dict[str, bool] = field(default_factory=dict)


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[f"seconds_{name}"] = round(time.perf_counter() - start, 3)


def run_epochs(
    state: RunState,
    components: Components,
    device: torch.device,
    reporter: Reporter | None = None,
    hooks: EpochHooks | None = None,
) -> dict[str, Any]:
    """Train from ``state.epoch`` to ``config.epochs``, then one evaluation-only pass.

    Row ``epoch = e`` describes the clustering of the network after ``e`` training
    epochs (``e = 0``: random weights) and the loss of the training that followed; the
    last row (``e = epochs``) has no training. Returns that last row.
    """
    reporter = reporter or SilentReporter()
    hooks = hooks or EpochHooks()
    config = state.config
    dataset = components.dataset
    true_labels = dataset.targets
    row: dict[str, Any] = {}
    while state.epoch <= config.epochs:
        epoch = state.epoch
        final = epoch == config.epochs
        seed_everything(epoch_seed(config.seed, epoch, stream=0))
        timings: dict[str, float] = {}
        with _timed(timings, "features"), reporter.phase("features", len(dataset)) as advance:
            features = compute_features(
                state.model, dataset, config, device, epoch_seed(config.seed, epoch, 1), advance
            )
        with _timed(timings, "cluster"), reporter.phase("cluster", None):
            result = cluster(components.clusterer, features, epoch_seed(config.seed, epoch, 2))
        context = EvalContext(
            epoch=epoch,
            final=final,
            pseudo_labels=result.labels,
            previous_pseudo_labels=state.pseudo_labels,
            true_labels=true_labels,
            features=features,
            model=state.model,
            dataset=dataset,
            device=str(device),
            seed=config.seed,
            settings=config.to_dict(),
        )
        run_all = final or (config.eval_every > 0 and epoch % config.eval_every == 0)
        with _timed(timings, "evaluate"), reporter.phase("evaluate", None):
            metrics = evaluate(components.evaluators, context, reporter, run_all)
        train_loss = math.nan
        if not final:
            if state.supervised_head is not None:
                targets, num_targets = true_labels, state.supervised_head.out_features
            else:
                targets, num_targets = result.labels, result.num_clusters
            with _timed(timings, "train"), reporter.phase("train", len(dataset)) as advance:
                train_loss = train_epoch(
                    state,
                    dataset,
                    targets,
                    num_targets,
                    device,
                    epoch_seed(config.seed, epoch, 3),
                    advance,
                )
        else:
            timings["seconds_train"] = 0.0
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            **{m.name: m.value for m in metrics},
            **cluster_size_stats(result.labels, result.num_clusters),
            "empty_clusters_fixed": result.empty_clusters_fixed,
            "cluster_objective": result.objective if result.objective is not None else math.nan,
            **{f"cluster_{k}": v for k, v in result.extra.items()},
            **timings,
        }
        for metric in metrics:
            hooks.metric_directions[metric.name] = metric.higher_is_better
        state.pseudo_labels = result.labels
        state.epoch_rows.append(row)
        state.epoch = epoch + 1
        hooks.on_epoch(state, row)
        reporter.epoch_done(row)
    return row
