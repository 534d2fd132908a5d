"""Two label-free evaluators: how well separated and how balanced the clusters are.

Both need no true labels, so they work on any image folder. Cluster balance watches
for DeepCluster's known failure, most images collapsing into a few clusters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dcbench import EvalContext, Metric
from dcbench_example._options import positive_int, reject_unknown


def make_silhouette(*, sample_size: int = 2000, **unknown: Any) -> Silhouette:
    reject_unknown("silhouette", unknown, ["sample_size"])
    return Silhouette(sample_size=positive_int("silhouette", "sample_size", sample_size))


def make_cluster_balance(**unknown: Any) -> ClusterBalance:
    reject_unknown("cluster-balance", unknown, [])
    return ClusterBalance()


class Silhouette:
    """Mean silhouette (cosine) of the pseudo-labels on the features they came from.

    Exact silhouette costs O(N^2), so at most ``sample_size`` images, drawn with the
    run's seed, are scored. Undefined with one cluster or one image per cluster: then
    no metric is returned for that epoch.
    """

    per_epoch = True
    needs_labels = False

    def __init__(self, sample_size: int = 2000) -> None:
        self.sample_size = sample_size

    def evaluate(self, context: EvalContext) -> list[Metric]:
        from sklearn.metrics import silhouette_score

        labels = np.asarray(context.pseudo_labels)
        present = len(np.unique(labels))
        if present < 2 or present >= len(labels):
            return []
        value = silhouette_score(
            np.asarray(context.features, dtype=np.float32),
            labels,
            metric="cosine",
            sample_size=min(self.sample_size, len(labels)),
            random_state=context.seed,
        )
        return [Metric("silhouette", float(value), higher_is_better=True)]


class ClusterBalance:
    """Entropy of the cluster sizes over log(clusters): 1 is perfectly even.

    Also reports the share of images in the largest cluster (lower is better).
    """

    per_epoch = True
    needs_labels = False

    def evaluate(self, context: EvalContext) -> list[Metric]:
        sizes = np.bincount(np.asarray(context.pseudo_labels))
        sizes = sizes[sizes > 0]
        shares = sizes / sizes.sum()
        entropy = float(-(shares * np.log(shares)).sum())
        balance = entropy / np.log(len(sizes)) if len(sizes) > 1 else 0.0
        return [
            Metric("cluster_balance", float(balance), higher_is_better=True),
            Metric("largest_cluster_share", float(shares.max()), higher_is_better=False),
        ]
