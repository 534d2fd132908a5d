"""Feature extraction and PCA-whitening, memory-bounded.

The reference code holds all N x 4096 features in RAM (21 GB on ImageNet). Here the
data set is visited in a seeded random order, PCA is fitted on the first
``fit_samples`` rows (a uniform sample of the data, or all of it when N is smaller),
and every later batch is projected as it arrives, so peak memory is
``fit_samples x D + N x pca_dim`` floats instead of ``N x D``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class PCAWhitening:
    """y = (x - mean) @ components * eigenvalues ** power, as faiss PCAMatrix(d, n, power)."""

    mean: torch.Tensor  # (D,)
    projection: torch.Tensor  # (D, n): components already scaled by eigenvalue ** power

    @classmethod
    def fit(cls, samples: torch.Tensor, dim: int, eigen_power: float = -0.5) -> PCAWhitening:
        """Fit on ``samples`` (M, D) via covariance + eigh.

        faiss's PCAMatrix trains in ~80 s at D = 4096 here, this in a few seconds
        (benchmarks/test_bench_pca.py); numpy's eigh because torch's pays a ~2 s
        set-up on its first call. Whitened values differ from faiss's by a constant
        factor, which the L2 normalisation that follows removes.
        """
        data = samples.double()
        mean = data.mean(dim=0)
        centred = data - mean
        covariance = centred.T @ centred / max(len(data) - 1, 1)
        values, vectors = np.linalg.eigh(covariance.numpy())  # ascending order
        eigenvalues, eigenvectors = torch.from_numpy(values), torch.from_numpy(vectors)
        order = torch.argsort(eigenvalues, descending=True)[:dim]
        top_values = eigenvalues[order].clamp_min(0)
        # Guard directions with (numerically) zero variance: whitening would blow them up.
        floor = top_values[0].clamp_min(1e-30) * 1e-10 if len(top_values) else 1.0
        scale = top_values.clamp_min(floor) ** eigen_power
        projection = eigenvectors[:, order] * scale
        return cls(mean=mean.float(), projection=projection.float())

    def transform(self, batch: torch.Tensor) -> torch.Tensor:
        return (batch.float() - self.mean) @ self.projection


def l2_normalize(rows: torch.Tensor) -> torch.Tensor:
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)


def reduce_features(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_rows: int,
    pca_dim: int,
    fit_samples: int,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Project ``(indices, features)`` batches to PCA-whitened, L2-normalised rows.

    ``batches`` must come in random order for the PCA sample to be uniform. Returns a
    float32 array (num_rows, out_dim) in data-set order. ``pca_dim=0`` skips PCA.
    """
    pending: list[tuple[torch.Tensor, torch.Tensor]] = []
    pending_rows = 0
    pca: PCAWhitening | None = None
    output: np.ndarray | None = None

    def emit(indices: torch.Tensor, feats: torch.Tensor) -> None:
        nonlocal output
        reduced = l2_normalize(pca.transform(feats) if pca is not None else feats.float())
        if output is None:
            output = np.empty((num_rows, reduced.shape[1]), dtype=np.float32)
        output[indices.numpy()] = reduced.numpy()

    def fit_and_flush() -> None:
        nonlocal pca, pending, pending_rows
        sample = torch.cat([f for _, f in pending])
        dim = min(pca_dim, sample.shape[1], max(len(sample) - 1, 1))
        pca = PCAWhitening.fit(sample, dim)
        for indices, feats in pending:
            emit(indices, feats)
        pending, pending_rows = [], 0

    for indices, feats in batches:
        indices, feats = indices.cpu(), feats.detach().float().cpu()
        if pca_dim == 0 or pca is not None:
            emit(indices, feats)
        else:
            pending.append((indices, feats))
            pending_rows += len(feats)
            if pending_rows >= fit_samples:
                fit_and_flush()
        if on_batch is not None:
            on_batch(len(feats))
    if pending:
        fit_and_flush()
    if output is None:
        raise ValueError("no features were computed (empty data set)")
    return output
