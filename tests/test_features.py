from __future__ import annotations

import numpy as np
import pytest
import torch

from dcbench.features import PCAWhitening, reduce_features


def _batches(data: torch.Tensor, order: np.ndarray, size: int):
    for start in range(0, len(order), size):
        idx = torch.as_tensor(order[start : start + size])
        yield idx, data[idx]


def test_pca_whitening_matches_numpy_reference() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(500, 20)) @ rng.normal(size=(20, 20))
    pca = PCAWhitening.fit(torch.as_tensor(data), dim=5)
    projected = pca.transform(torch.as_tensor(data)).numpy()
    # Whitened: unit variance, uncorrelated components.
    cov = np.cov(projected, rowvar=False)
    np.testing.assert_allclose(cov, np.eye(5), atol=1e-3)
    # Same subspace as numpy's SVD of the centred data.
    centred = data - data.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    basis = pca.projection.numpy() / np.linalg.norm(pca.projection.numpy(), axis=0)
    np.testing.assert_allclose(np.abs(basis.T @ vt[:5].T), np.eye(5), atol=1e-4)


def test_reduce_features_is_l2_normalised_and_in_dataset_order() -> None:
    rng = np.random.default_rng(1)
    data = torch.as_tensor(rng.normal(size=(300, 16)), dtype=torch.float32)
    order = rng.permutation(300)
    out = reduce_features(_batches(data, order, 64), 300, pca_dim=8, fit_samples=10_000)
    assert out.shape == (300, 8) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    ordered = reduce_features(_batches(data, np.arange(300), 64), 300, 8, 10_000)
    np.testing.assert_allclose(np.abs(out), np.abs(ordered), atol=1e-4)


def test_pca_fitted_on_a_sample_projects_the_rest_as_it_comes() -> None:
    rng = np.random.default_rng(2)
    data = torch.as_tensor(rng.normal(size=(1000, 12)), dtype=torch.float32)
    seen: list[int] = []
    out = reduce_features(
        _batches(data, rng.permutation(1000), 100), 1000, 4, fit_samples=200, on_batch=seen.append
    )
    assert out.shape == (1000, 4) and sum(seen) == 1000
    assert not np.isnan(out).any()


def test_pca_off_keeps_dimension() -> None:
    data = torch.randn(50, 6)
    out = reduce_features(_batches(data, np.arange(50), 16), 50, pca_dim=0, fit_samples=10)
    assert out.shape == (50, 6)


def test_pca_dim_is_capped_by_data() -> None:
    data = torch.randn(10, 32)
    out = reduce_features(_batches(data, np.arange(10), 4), 10, pca_dim=256, fit_samples=100)
    assert out.shape == (10, 9)


def test_empty_input_raises() -> None:
    with pytest.raises(ValueError):
        reduce_features(iter(()), 0, 4, 10)
