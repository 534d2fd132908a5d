"""k-means clusterer (DeepCluster steps 3-4) with the empty-cluster fix made explicit.

Bare ``faiss.Kmeans`` repairs empty clusters silently. The paper names that repair as
essential, and dcbench logs how often it happens, so the Lloyd loop lives here: faiss
does only the nearest-centroid search (the expensive part), the centroid update and the
splitting of a large cluster into an empty one are written out and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dcbench import hookimpl
from dcbench.components import ClusteringResult
from dcbench.errors import ConfigError, DataError

SPLIT_EPS = 1.0 / 1024  # faiss's relative perturbation when one centroid becomes two
_OBJECTIVE_CHUNK = 65536  # rows per block when summing squared distances (bounds memory)


@hookimpl
def register_clusterers(register: Callable[..., None]) -> None:
    register(
        "kmeans",
        _make_kmeans,
        description="faiss k-means (Lloyd, niter 20), explicit empty-cluster splitting",
    )


def _make_kmeans(*, k: int | None = None, niter: int = 20, **unknown: Any) -> KMeansClusterer:
    if unknown:
        raise ConfigError(f"unknown kmeans option(s): {', '.join(sorted(unknown))} (known: niter)")
    if k is None:
        raise ConfigError("kmeans needs k (the number of clusters)")
    return KMeansClusterer(k=_positive_int("k", k), niter=_positive_int("niter", niter))


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"kmeans option {name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class KMeansClusterer:
    """Lloyd's k-means from ``k`` distinct random points; every empty cluster is refilled.

    Runs at most ``niter`` iterations and stops early only at a fixed point, so the
    result is the same as running all of them.
    """

    k: int
    niter: int = 20
    uses_k: bool = True

    def cluster(self, features: np.ndarray, *, seed: int) -> ClusteringResult:
        x = _as_features(features)
        if self.k > len(x):
            raise ConfigError(f"k={self.k} is larger than the number of images ({len(x)})")
        rng = np.random.default_rng(seed)
        centroids = x[rng.choice(len(x), size=self.k, replace=False)]
        labels = _assign(x, centroids)
        fixed, converged = 0, False
        for iterations in range(1, self.niter + 1):  # noqa: B007 (reported below)
            centroids = _update_centroids(x, labels, centroids)
            fixed_now = _split_empty_clusters(x, labels, centroids, rng)
            fixed += fixed_now
            previous, labels = labels, _assign(x, centroids)
            # Same labels and no split: the centroids cannot move again, so the
            # remaining iterations would be exact no-ops (faiss stops here too).
            if fixed_now == 0 and np.array_equal(previous, labels):
                converged = True
                break
        # The last assignment can empty a cluster again; the returned labels must not.
        final_fixed = _split_empty_clusters(x, labels, centroids, rng)
        return ClusteringResult(
            labels=labels,
            num_clusters=self.k,
            objective=_within_cluster_sse(x, labels, self.k),
            empty_clusters_fixed=fixed + final_fixed,
            extra={
                "iterations": float(iterations),
                "converged": float(converged),
                "final_empty_clusters_fixed": float(final_fixed),
            },
        )


def _as_features(features: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(features, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise DataError(f"features must be a non-empty 2-D array, got shape {x.shape}")
    return x


def _assign(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Nearest centroid of every row (exact, faiss flat L2)."""
    import faiss

    index = faiss.IndexFlatL2(x.shape[1])
    index.add(centroids)
    _, nearest = index.search(x, 1)
    return nearest[:, 0].astype(np.int64)


def _membership(labels: np.ndarray, k: int) -> Any:
    """Sparse (k, N) 0/1 matrix: row c selects the points of cluster c."""
    from scipy import sparse

    counts = np.bincount(labels, minlength=k)
    indptr = np.concatenate(([0], np.cumsum(counts)))
    members = np.argsort(labels, kind="stable")
    ones = np.ones(len(labels), dtype=np.float32)
    return sparse.csr_matrix((ones, members, indptr), shape=(k, len(labels)))


def _cluster_means(x: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Means of each cluster (rows of empty clusters are 0) and the cluster sizes."""
    counts = np.bincount(labels, minlength=k)
    sums = np.asarray(_membership(labels, k) @ x, dtype=np.float32)
    return sums / np.maximum(counts, 1)[:, None].astype(np.float32), counts


def _update_centroids(x: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Lloyd's update; an empty cluster keeps its old centroid until it is refilled."""
    means, counts = _cluster_means(x, labels, len(centroids))
    return np.where(counts[:, None] > 0, means, centroids)


def _split_empty_clusters(
    x: np.ndarray, labels: np.ndarray, centroids: np.ndarray, rng: np.random.Generator
) -> int:
    """Refill every empty cluster from a donor (in place); returns how many were fixed.

    The donor is drawn with probability proportional to (size - 1), as faiss does, so
    big clusters are split and singletons never are. Needs N >= k, so a donor with at
    least two points always exists.
    """
    sizes = np.bincount(labels, minlength=len(centroids))
    empty = np.flatnonzero(sizes == 0)
    for target in empty:
        spare = np.maximum(sizes - 1, 0).astype(np.float64)
        donor = int(rng.choice(len(sizes), p=spare / spare.sum()))
        moved = _split_cluster(x, labels, centroids, donor, int(target))
        sizes[target] = moved
        sizes[donor] -= moved
    return len(empty)


def _split_cluster(
    x: np.ndarray, labels: np.ndarray, centroids: np.ndarray, donor: int, target: int
) -> int:
    """Turn the donor's centroid into a perturbed pair and split its points by distance.

    Returns the number of points moved to ``target`` (between 1 and size - 1).
    """
    dims = centroids.shape[1]
    sign = np.where(np.arange(dims) % 2 == 0, SPLIT_EPS, -SPLIT_EPS)
    base = centroids[donor].astype(np.float64)
    new, old = base * (1 + sign), base * (1 - sign)
    centroids[target], centroids[donor] = new, old
    members = np.flatnonzero(labels == donor)
    # ||x - new||^2 - ||x - old||^2: negative means the point is nearer the new centroid.
    gap = -2.0 * (x[members] @ (new - old)) + (new @ new - old @ old)
    to_new = gap < 0
    # Identical points (or a zero centroid) can all fall on one side: keep both non-empty.
    if not to_new.any():
        to_new[np.argmin(gap)] = True
    elif to_new.all():
        to_new[np.argmax(gap)] = False
    labels[members[to_new]] = target
    return int(to_new.sum())


def _within_cluster_sse(x: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Sum of squared distances of each point to its cluster's mean (the k-means cost).

    Summed directly, per-row in float32 and across rows in float64: the shortcut
    sum|x|^2 - sum n|mean|^2 cancels badly when clusters are tight.
    """
    means, _ = _cluster_means(x, labels, k)
    total = 0.0
    for start in range(0, len(x), _OBJECTIVE_CHUNK):
        block = slice(start, start + _OBJECTIVE_CHUNK)
        diff = x[block] - means[labels[block]]
        total += float(np.einsum("ij,ij->i", diff, diff).sum(dtype=np.float64))
    return total
