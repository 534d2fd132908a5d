"""Power iteration clustering (PIC), the paper's alternative to k-means.

A vectorised transcription of the reference ``clustering.py``: a kNN graph, power
iterations towards a smooth "importance" vector, then every node climbs to its best
neighbour until a local maximum; each maximum is a cluster. The number of clusters is
data-driven, so ``k`` is accepted (the loop passes it to every clusterer) and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dcbench import hookimpl
from dcbench.components import ClusteringResult
from dcbench.errors import ConfigError, DataError

_DEFAULTS: dict[str, Any] = {
    "nnn": 5,
    "sigma": 0.2,
    "alpha": 0.001,
    "iterations": 200,
    "distribute_singletons": True,
}


@hookimpl
def register_clusterers(register: Callable[..., None]) -> None:
    register(
        "pic",
        _make_pic,
        description="power iteration clustering on a 5-NN graph; data-driven cluster count",
    )


def _make_pic(*, k: int | None = None, **options: Any) -> PICClusterer:
    del k  # PIC decides the number of clusters itself
    unknown = sorted(set(options) - set(_DEFAULTS))
    if unknown:
        known = ", ".join(_DEFAULTS)
        raise ConfigError(f"unknown pic option(s): {', '.join(unknown)} (known: {known})")
    settings = {**_DEFAULTS, **options}
    _check_settings(settings)
    return PICClusterer(**settings)


def _check_settings(settings: dict[str, Any]) -> None:
    """Reject values that would run but mean nothing (e.g. 0 neighbours, alpha > 1)."""
    for name in ("nnn", "iterations"):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ConfigError(f"pic option {name} must be a positive integer, got {value!r}")
    sigma, alpha = settings["sigma"], settings["alpha"]
    if isinstance(sigma, bool) or not isinstance(sigma, int | float) or sigma <= 0:
        raise ConfigError(f"pic option sigma must be a positive number, got {sigma!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha <= 1:
        raise ConfigError(f"pic option alpha must be in (0, 1], got {alpha!r}")
    if not isinstance(settings["distribute_singletons"], bool):
        value = settings["distribute_singletons"]
        raise ConfigError(f"pic option distribute_singletons must be true or false, got {value!r}")


@dataclass(frozen=True)
class PICClusterer:
    """PIC with the reference defaults (nnn 5, sigma 0.2, alpha 0.001, 200 iterations)."""

    nnn: int = 5
    sigma: float = 0.2
    alpha: float = 0.001
    iterations: int = 200
    distribute_singletons: bool = True
    uses_k: bool = False

    def cluster(self, features: np.ndarray, *, seed: int) -> ClusteringResult:
        del seed  # PIC is deterministic: exact kNN, fixed start vector
        x = np.ascontiguousarray(features, dtype=np.float32)
        if x.ndim != 2:
            raise DataError(f"features must be a 2-D array, got shape {x.shape}")
        if len(x) <= self.nnn:
            raise ConfigError(f"pic needs more than nnn={self.nnn} images, got {len(x)}")
        distances, neighbours = knn_graph(x, self.nnn)
        graph = adjacency(distances, neighbours, self.sigma)
        v = power_iterate(graph, self.alpha, self.iterations)
        labels = follow_to_roots(uphill_pointers(graph, v))
        moved = 0
        if self.distribute_singletons:
            labels, moved = distribute_singletons(labels, neighbours)
        labels = np.unique(labels, return_inverse=True)[1].astype(np.int64)
        num_clusters = int(labels.max()) + 1
        return ClusteringResult(
            labels=labels,
            num_clusters=num_clusters,
            extra={"singletons_moved": moved, "num_clusters": num_clusters},
        )


def knn_graph(x: np.ndarray, nnn: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact squared-L2 distances and ids of each row's ``nnn`` neighbours, self dropped.

    As in the reference, column 0 of the search is taken to be the point itself.
    """
    import faiss

    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    distances, neighbours = index.search(x, nnn + 1)
    return distances[:, 1:], neighbours[:, 1:]


def adjacency(distances: np.ndarray, neighbours: np.ndarray, sigma: float) -> Any:
    """Symmetric weighted kNN graph W = A + A^T with A_ij = exp(-d_ij / sigma^2)."""
    from scipy import sparse

    n, nnn = neighbours.shape
    weights = np.exp(-distances / np.float32(sigma**2)).astype(np.float32)
    indptr = np.arange(0, n * nnn + 1, nnn)
    a = sparse.csr_matrix((weights.ravel(), neighbours.ravel(), indptr), shape=(n, n))
    return a + a.T


def power_iterate(graph: Any, alpha: float, iterations: int) -> np.ndarray:
    """v <- alpha W^T v + (1 - alpha) / n, L1-normalised, from uniform v (float32)."""
    n = graph.shape[0]
    transposed = graph.T
    v = np.full(n, 1.0 / n, dtype=np.float32)
    for _ in range(iterations):
        v = np.float32(alpha) * (transposed @ v) + np.float32((1 - alpha) / n)
        v /= v.sum()
    return v


def uphill_pointers(graph: Any, v: np.ndarray) -> np.ndarray:
    """Each node's neighbour j maximising W_ij (v_j - v_i) when positive, else itself.

    Ties go to the first entry in the row's storage order, as the reference's strict
    ``>`` scan does.
    """
    n = graph.shape[0]
    rows = np.repeat(np.arange(n), np.diff(graph.indptr))
    scores = graph.data * (v[graph.indices] - v[rows])
    candidates = np.flatnonzero(scores > 0)
    # Stable sort by row, best score first; the first entry of each row wins.
    order = candidates[np.lexsort((-scores[candidates], rows[candidates]))]
    first = np.ones(len(order), dtype=bool)
    first[1:] = rows[order[1:]] != rows[order[:-1]]
    pointers = np.arange(n)
    pointers[rows[order[first]]] = graph.indices[order[first]]
    return pointers


def follow_to_roots(pointers: np.ndarray) -> np.ndarray:
    """Cluster id of each node: the rank of the root its pointer chain ends at.

    Pointers climb strictly in v, so chains have no cycles and pointer jumping
    (p <- p[p]) reaches every root in O(log depth) rounds.
    """
    roots = pointers
    while True:
        jumped = roots[roots]
        if np.array_equal(jumped, roots):
            break
        roots = jumped
    return np.unique(roots, return_inverse=True)[1].astype(np.int64)


def distribute_singletons(labels: np.ndarray, neighbours: np.ndarray) -> tuple[np.ndarray, int]:
    """Move each singleton to the cluster of its nearest neighbour in a larger cluster.

    Decided from the cluster sizes before any move, as the reference does, so two
    singletons never join each other. Returns the new labels and how many moved.
    """
    sizes = np.bincount(labels)
    singletons = np.flatnonzero(sizes[labels] == 1)
    candidates = neighbours[singletons]
    joinable = sizes[labels[candidates]] > 1
    has_target = joinable.any(axis=1)
    nearest = candidates[has_target, joinable[has_target].argmax(axis=1)]
    moved = labels.copy()
    moved[singletons[has_target]] = labels[nearest]
    return moved, int(has_target.sum())
