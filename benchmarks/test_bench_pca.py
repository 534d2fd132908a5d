"""PCA-whitening: dcbench's covariance + numpy eigh against faiss.PCAMatrix, and
memory-bounded ``reduce_features`` against "all features in RAM, then PCA".

At 4096-d faiss's PCAMatrix.train takes ~80 s and ours ~25 s on 2 cores, so the
default pair is 1024 -> 256; DCBENCH_BENCH_PCA_4096=1 adds the paper's 4096 -> 256. Both
sides must find the same subspace: faiss scales its eigenvalues by the row count, so
only the components (up to sign) are compared, not the whitened values.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import faiss
import numpy as np
import pytest
import torch

from dcbench.features import PCAWhitening, l2_normalize, reduce_features

ROWS = 8000
PCA_DIM = 256
WITH_4096 = os.environ.get("DCBENCH_BENCH_PCA_4096", "") not in ("", "0")
ONLY_WITH_4096 = pytest.mark.skipif(
    not WITH_4096, reason="the 4096-d pair takes ~2 min on 2 cores: DCBENCH_BENCH_PCA_4096=1"
)
DIMS = [1024, pytest.param(4096, marks=ONLY_WITH_4096)]
LATENT = 512  # rank of the signal; the rest is small isotropic noise

_faiss_components: dict[int, np.ndarray] = {}


def _features(rows: int, dim: int, seed: int) -> torch.Tensor:
    """Backbone-like features: a decaying spectrum of LATENT factors plus noise."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(LATENT, dim, generator=torch.Generator().manual_seed(99)) / dim**0.5
    scales = torch.logspace(1, -0.5, LATENT)
    factors = torch.randn(rows, LATENT, generator=generator) * scales
    return factors @ mixing + 0.01 * torch.randn(rows, dim, generator=generator)


@pytest.fixture(scope="module")
def samples() -> Callable[[int], torch.Tensor]:
    """The same fit sample for both sides of a pair, built once per dimension."""
    cache: dict[int, torch.Tensor] = {}

    def get(dim: int) -> torch.Tensor:
        if dim not in cache:
            cache[dim] = _features(ROWS, dim, seed=0)
        return cache[dim]

    return get


def _faiss_fit(x: np.ndarray) -> np.ndarray:
    """The reference code's PCA; returns the unit-norm components as rows (256, D)."""
    pca = faiss.PCAMatrix(x.shape[1], PCA_DIM, -0.5)  # eigen_power positional in 1.15
    pca.train(x)
    components = faiss.vector_to_array(pca.A).reshape(PCA_DIM, x.shape[1])
    return components / np.linalg.norm(components, axis=1, keepdims=True)


@pytest.mark.parametrize("dim", DIMS)
def test_faiss_pca(
    benchmark: Any, samples: Callable[[int], torch.Tensor], dim: int, same_run: Any
) -> None:
    x = np.ascontiguousarray(samples(dim).numpy(), dtype=np.float32)
    benchmark.group = f"pca-fit {dim}->{PCA_DIM}, {ROWS} rows"
    rounds = 3 if dim <= 1024 else 1
    _faiss_components[dim] = benchmark.pedantic(_faiss_fit, args=(x,), rounds=rounds, iterations=1)
    same_run.baseline(benchmark)


@pytest.mark.parametrize("dim", DIMS)
def test_dcbench_pca(
    benchmark: Any, samples: Callable[[int], torch.Tensor], dim: int, same_run: Any
) -> None:
    benchmark.group = f"pca-fit {dim}->{PCA_DIM}, {ROWS} rows"
    rounds = 3 if dim <= 1024 else 1
    pca = benchmark.pedantic(
        PCAWhitening.fit, args=(samples(dim), PCA_DIM), rounds=rounds, iterations=1
    )
    same_run.dcbench(benchmark)
    reference = _faiss_components.get(dim)
    if reference is None:
        return
    ours = pca.projection.numpy().astype(np.float64)
    ours /= np.linalg.norm(ours, axis=0, keepdims=True)
    cosines = np.abs(np.einsum("kd,dk->k", reference, ours))
    # Squared Frobenius overlap / 256: 1 when the two 256-d subspaces coincide.
    overlap = float(np.square(reference @ ours).sum() / PCA_DIM)
    benchmark.extra_info.update(
        abs_cosine_min=round(float(cosines.min()), 6),
        abs_cosine_mean=round(float(cosines.mean()), 6),
        subspace_overlap=round(overlap, 6),
    )
    assert overlap > 0.999
    assert cosines.mean() > 0.99


# --- reduce_features: streaming vs all in RAM ---------------------------------------

N_IMAGES = 20_000
FEATURE_DIM = 1024
BATCH = 256  # feature_batches' minimum evaluation batch
FIT_SAMPLES = 5000
STREAM_GROUP = f"reduce {N_IMAGES}x{FEATURE_DIM}->{PCA_DIM}"


def _batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """What the backbone yields: (indices, features) in a seeded random order."""
    order = torch.randperm(N_IMAGES, generator=torch.Generator().manual_seed(0))
    for number, start in enumerate(range(0, N_IMAGES, BATCH)):
        indices = order[start : start + BATCH]
        yield indices, _features(len(indices), FEATURE_DIM, seed=1000 + number)


def _all_in_ram() -> np.ndarray:
    """The reference code's way: keep every row, PCA on all of them, then project."""
    indices, feats = zip(*_batches(), strict=True)
    everything = torch.cat(feats)
    pca = PCAWhitening.fit(everything, PCA_DIM)
    reduced = l2_normalize(pca.transform(everything)).numpy()
    output = np.empty_like(reduced)
    output[torch.cat(indices).numpy()] = reduced
    return output


def _streaming() -> np.ndarray:
    return reduce_features(_batches(), N_IMAGES, PCA_DIM, FIT_SAMPLES)


def _bench_reduce(benchmark: Any, function: Callable[[], np.ndarray], measure_peak: Any) -> None:
    benchmark.group = STREAM_GROUP
    with measure_peak() as peak:  # an untimed run: the measurement must not skew timing
        output = function()
    assert output.shape == (N_IMAGES, PCA_DIM)
    benchmark.pedantic(function, rounds=2, iterations=1)
    benchmark.extra_info.update(
        peak_rss_mib=None if peak.mib is None else round(peak.mib, 1),
        raw_features_mib=round(N_IMAGES * FEATURE_DIM * 4 / 2**20, 1),
        fit_rows=N_IMAGES if function is _all_in_ram else FIT_SAMPLES,
    )


def test_all_in_ram_reduce(benchmark: Any, measure_peak: Any, same_run: Any) -> None:
    _bench_reduce(benchmark, _all_in_ram, measure_peak)
    same_run.baseline(benchmark)


def test_dcbench_reduce_features(benchmark: Any, measure_peak: Any, same_run: Any) -> None:
    _bench_reduce(benchmark, _streaming, measure_peak)
    same_run.dcbench(benchmark)
