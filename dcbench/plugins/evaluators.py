"""Built-in evaluators that read the clustering: NMI over time, and clustering scores.

The evaluators on frozen features (linear probe, kNN) live in :mod:`dcbench.plugins.probes`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from dcbench import hookimpl
from dcbench.components import EvalContext, Metric
from dcbench.errors import ConfigError


def _reject_options(evaluator: str, options: Mapping[str, Any]) -> None:
    if options:
        raise ConfigError(
            f"evaluator {evaluator!r} takes no options, got {', '.join(sorted(options))}"
        )


class NMIEvaluator:
    """NMI(pseudo-labels, true labels) and NMI(previous epoch, this epoch).

    The second is the paper's stability curve and needs no labels, so this evaluator
    runs on unlabelled data too and simply leaves the first out.
    """

    per_epoch = True
    needs_labels = False

    def evaluate(self, context: EvalContext) -> list[Metric]:
        from sklearn.metrics import normalized_mutual_info_score

        metrics = []
        if context.true_labels is not None:
            value = normalized_mutual_info_score(context.true_labels, context.pseudo_labels)
            metrics.append(Metric("nmi_labels", float(value)))
        if context.previous_pseudo_labels is not None:
            value = normalized_mutual_info_score(
                context.previous_pseudo_labels, context.pseudo_labels
            )
            metrics.append(Metric("nmi_previous", float(value)))
        return metrics


def _make_nmi(**options: Any) -> NMIEvaluator:
    _reject_options("nmi", options)
    return NMIEvaluator()


# --- clustering scores --------------------------------------------------------------


def contingency(clusters: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Counts ``(n_clusters, n_classes)``: row i, column j = images of cluster i in class j.

    Only the clusters and classes that occur get a row or column.
    """
    _, cluster_index = np.unique(clusters, return_inverse=True)
    _, class_index = np.unique(classes, return_inverse=True)
    table = np.zeros((cluster_index.max() + 1, class_index.max() + 1), dtype=np.int64)
    np.add.at(table, (cluster_index, class_index), 1)
    return table


def hungarian_accuracy(table: np.ndarray) -> float:
    """Accuracy of the best one-to-one map of clusters to classes (Hungarian matching).

    Works on the rectangular table, so ``min(n_clusters, n_classes)`` pairs are matched:
    with more clusters than classes, images in unmatched clusters count as errors (so a
    perfect over-segmentation into 2 clusters per class scores about 0.5); with fewer
    clusters than classes, the unmatched classes' images are errors.
    """
    from scipy.optimize import linear_sum_assignment

    rows, columns = linear_sum_assignment(table, maximize=True)
    return float(table[rows, columns].sum() / table.sum())


def purity(table: np.ndarray) -> float:
    """Majority-vote accuracy: each cluster predicts its most common class (many-to-one).

    Never below the Hungarian accuracy and reaches 1 as clusters shrink to single
    images, so compare it only between runs with the same number of clusters.
    """
    return float(table.max(axis=1).sum() / table.sum())


def clustering_scores(classes: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    """NMI, AMI, ARI, Hungarian accuracy and purity of ``clusters`` against ``classes``."""
    from sklearn.metrics import (
        adjusted_mutual_info_score,
        adjusted_rand_score,
        normalized_mutual_info_score,
    )

    table = contingency(clusters, classes)
    return {
        "cluster_nmi": float(normalized_mutual_info_score(classes, clusters)),
        "cluster_ami": float(adjusted_mutual_info_score(classes, clusters)),
        "cluster_ari": float(adjusted_rand_score(classes, clusters)),
        "cluster_acc": hungarian_accuracy(table),
        "cluster_purity": purity(table),
    }


class ClusteringEvaluator:
    """How well this epoch's pseudo-labels recover the true classes.

    ``cluster_nmi`` (arithmetic normalisation, equal to ``nmi_labels``), ``cluster_ami``
    and ``cluster_ari`` (chance-adjusted: about 0 for a random labelling, 1 perfect),
    ``cluster_acc`` (one-to-one Hungarian matching) and ``cluster_purity`` (many-to-one).
    All higher is better.
    """

    per_epoch = True
    needs_labels = True

    def evaluate(self, context: EvalContext) -> list[Metric]:
        scores = clustering_scores(np.asarray(context.true_labels), context.pseudo_labels)
        return [Metric(name, value) for name, value in scores.items()]


def _make_clustering(**options: Any) -> ClusteringEvaluator:
    _reject_options("clustering", options)
    return ClusteringEvaluator()


@hookimpl
def register_evaluators(register: Callable[..., None]) -> None:
    register(
        "nmi",
        _make_nmi,
        description="NMI of pseudo-labels vs true labels and vs the previous epoch",
    )
    register(
        "clustering",
        _make_clustering,
        description="NMI, AMI, ARI, Hungarian accuracy and purity of pseudo-labels vs labels",
    )
