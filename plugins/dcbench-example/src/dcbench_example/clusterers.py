"""Two clusterers that honour k, as alternatives to dcbench's faiss k-means.

dcbench L2-normalises the PCA-reduced features before clustering, so every point lies
on the unit sphere; spherical k-means clusters by cosine similarity and keeps its
centroids on that sphere too. Agglomerative clustering is deterministic and needs no
initialisation, a useful control when comparing seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dcbench import ClusteringResult, ConfigError, DataError
from dcbench_example._options import positive_int, reject_unknown

LINKAGES = ("ward", "average", "complete", "single")


def make_spherical_kmeans(
    *, k: int | None = None, niter: int = 20, **unknown: Any
) -> SphericalKMeans:
    reject_unknown("spherical-kmeans", unknown, ["niter"])
    if k is None:
        raise ConfigError("spherical-kmeans needs k (the number of clusters)")
    return SphericalKMeans(
        k=positive_int("spherical-kmeans", "k", k),
        niter=positive_int("spherical-kmeans", "niter", niter),
    )


def make_agglomerative(
    *, k: int | None = None, linkage: str = "ward", max_images: int = 20000, **unknown: Any
) -> Agglomerative:
    reject_unknown("agglomerative", unknown, ["linkage", "max_images"])
    if k is None:
        raise ConfigError("agglomerative needs k (the number of clusters)")
    if linkage not in LINKAGES:
        raise ConfigError(
            f"agglomerative: linkage must be one of {', '.join(LINKAGES)}, got {linkage!r}"
        )
    return Agglomerative(
        k=positive_int("agglomerative", "k", k),
        linkage=linkage,
        max_images=positive_int("agglomerative", "max_images", max_images),
    )


def _as_features(features: np.ndarray, k: int, component: str) -> np.ndarray:
    x = np.ascontiguousarray(features, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise DataError(f"{component}: features must be a non-empty 2-D array, got {x.shape}")
    if k > len(x):
        raise ConfigError(f"{component}: k={k} is larger than the number of images ({len(x)})")
    return x


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class SphericalKMeans:
    """Lloyd iterations with cosine assignment; empty clusters get the worst-fit points."""

    k: int
    niter: int = 20
    uses_k: bool = True

    def cluster(self, features: np.ndarray, *, seed: int) -> ClusteringResult:
        x = _unit_rows(_as_features(features, self.k, "spherical-kmeans"))
        rng = np.random.default_rng(seed)
        centroids = x[rng.choice(len(x), size=self.k, replace=False)]
        fixed = 0
        labels = np.zeros(len(x), dtype=np.int64)
        for _ in range(self.niter + 1):
            similarity = x @ centroids.T
            labels = similarity.argmax(axis=1).astype(np.int64)
            fixed += _refill_empty(labels, similarity, self.k)
            sums = np.zeros_like(centroids)
            np.add.at(sums, labels, x)
            centroids = _unit_rows(sums)
        best = (x * centroids[labels]).sum(axis=1)
        return ClusteringResult(
            labels=labels,
            num_clusters=self.k,
            # Mean cosine distance to the own centroid: the quantity this minimises.
            objective=float(np.mean(1.0 - best, dtype=np.float64)),
            empty_clusters_fixed=fixed,
            extra={"mean_cosine_similarity": float(best.mean())},
        )


def _refill_empty(labels: np.ndarray, similarity: np.ndarray, k: int) -> int:
    """Move the point farthest from its centroid into each empty cluster (in place)."""
    sizes = np.bincount(labels, minlength=k)
    empty = np.flatnonzero(sizes == 0)
    fit = similarity[np.arange(len(labels)), labels]
    for target in empty:
        # Only points whose cluster keeps at least one member may move.
        movable = sizes[labels] > 1
        candidate = int(np.flatnonzero(movable)[np.argmin(fit[movable])])
        sizes[labels[candidate]] -= 1
        labels[candidate] = target
        sizes[target] = 1
        fit[candidate] = np.inf
    return len(empty)


@dataclass(frozen=True)
class Agglomerative:
    """scikit-learn's bottom-up clustering; memory grows with N^2, hence ``max_images``."""

    k: int
    linkage: str = "ward"
    max_images: int = 20000
    uses_k: bool = True

    def cluster(self, features: np.ndarray, *, seed: int) -> ClusteringResult:
        from sklearn.cluster import AgglomerativeClustering

        x = _as_features(features, self.k, "agglomerative")
        if len(x) > self.max_images:
            raise ConfigError(
                f"agglomerative: {len(x)} images exceed max_images={self.max_images} "
                "(its memory grows with the square of N); raise it with "
                "--opt clusterer.max_images=N or use a k-means clusterer"
            )
        model = AgglomerativeClustering(n_clusters=self.k, linkage=self.linkage)
        labels = model.fit_predict(x).astype(np.int64)  # deterministic: seed is unused
        return ClusteringResult(labels=labels, num_clusters=self.k)
