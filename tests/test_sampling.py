from __future__ import annotations

import numpy as np

from dcbench.sampling import uniform_over_labels


def test_every_non_empty_cluster_is_drawn_equally_often() -> None:
    rng = np.random.default_rng(0)
    # Very unbalanced clusters: 900, 90, 9, 1 images; cluster 4 is empty.
    labels = np.repeat([0, 1, 2, 3, 5], [900, 90, 9, 1, 0])
    labels = rng.permutation(labels)
    picked = uniform_over_labels(labels, rng)
    assert len(picked) == len(labels)
    counts = np.bincount(labels[picked], minlength=6)
    quota = len(labels) // 4 + 1  # 4 non-empty clusters
    assert counts[4] == 0 and counts[5] == 0
    # Truncation to N removes at most (4 * quota - N) draws in total.
    assert all(quota - (4 * quota - len(labels)) <= c <= quota for c in counts[:4])


def test_large_clusters_are_sampled_without_replacement() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], [500, 20])
    picked = uniform_over_labels(labels, rng)
    big = picked[labels[picked] == 0]
    assert len(np.unique(big)) == len(big)  # no repeats within the big cluster
    small = picked[labels[picked] == 1]
    assert len(small) > 20 and set(small) <= set(range(500, 520))


def test_deterministic_for_a_seed_and_shuffled() -> None:
    labels = np.arange(1000) % 7
    first = uniform_over_labels(labels, np.random.default_rng(5))
    again = uniform_over_labels(labels, np.random.default_rng(5))
    other = uniform_over_labels(labels, np.random.default_rng(6))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.all(np.diff(labels[first]) >= 0)  # not grouped by cluster


def test_uniformity_over_many_draws() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 50, size=2000) ** 2 % 50  # skewed sizes
    picked = uniform_over_labels(labels, rng)
    counts = np.bincount(labels[picked])
    non_empty = counts[np.bincount(labels) > 0]
    assert non_empty.max() - non_empty.min() <= 1 + (
        len(non_empty) * (2000 // len(non_empty) + 1) - 2000
    )
