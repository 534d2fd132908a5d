"""uniform_over_labels (vectorised) against a loop transcription of UnifLabelSampler.

The reference sampler loops over clusters in Python with one np.random.choice each;
at the paper's k = 10000 that loop is the cost the vectorised version removes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dcbench.sampling import uniform_over_labels

N_IMAGES = 100_000
K = 10_000
ROUNDS = 5
GROUP = f"sampler N={N_IMAGES} k={K}"


@pytest.fixture(scope="module")
def pseudo_labels() -> np.ndarray:
    """Skewed cluster sizes (some empty), as k-means gives on real features."""
    rng = np.random.default_rng(0)
    weights = rng.pareto(1.5, K) + 1e-3
    labels = rng.choice(K, size=N_IMAGES, p=weights / weights.sum())
    return labels.astype(np.int64)


def reference_sampler(labels: np.ndarray, seed: int) -> np.ndarray:
    """The reference UnifLabelSampler.generate_indexes_epoch, written straight.

    The reference receives per-cluster image lists from its clustering; building them
    (one argsort) is timed here too, as uniform_over_labels starts from the labels.
    """
    np.random.seed(seed)
    order = np.argsort(labels, kind="stable")
    sizes = np.bincount(labels)
    members_of = np.split(order, np.cumsum(sizes)[:-1])
    clusters = [members for members in members_of if len(members)]
    quota = len(labels) // len(clusters) + 1
    draws = [
        np.random.choice(members, quota, replace=len(members) <= quota) for members in clusters
    ]
    picked = np.concatenate(draws)
    np.random.shuffle(picked)
    return picked[: len(labels)]


def _check(indices: np.ndarray, labels: np.ndarray) -> None:
    assert len(indices) == N_IMAGES
    counts = np.bincount(labels[indices], minlength=K)[np.bincount(labels, minlength=K) > 0]
    assert counts.max() - counts.min() <= counts.mean()  # roughly uniform over clusters


def test_reference_sampler(benchmark: Any, pseudo_labels: np.ndarray, same_run: Any) -> None:
    benchmark.group = GROUP
    indices = benchmark.pedantic(
        reference_sampler, args=(pseudo_labels, 0), rounds=ROUNDS, iterations=1
    )
    _check(indices, pseudo_labels)
    same_run.baseline(benchmark)


def test_dcbench_uniform_over_labels(
    benchmark: Any, pseudo_labels: np.ndarray, same_run: Any
) -> None:
    benchmark.group = GROUP
    rng = np.random.default_rng(0)
    indices = benchmark.pedantic(
        uniform_over_labels, args=(pseudo_labels, rng), rounds=ROUNDS, iterations=1
    )
    _check(indices, pseudo_labels)
    same_run.dcbench(benchmark)
