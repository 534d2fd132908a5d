"""Uniform sampling over pseudo-labels: the paper's fix for trivial parameterisation."""

from __future__ import annotations

import numpy as np


def uniform_over_labels(pseudo_labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices for one epoch, drawing every non-empty cluster equally often.

    As the reference ``UnifLabelSampler``: each non-empty cluster gets
    ``N // C + 1`` draws, without replacement when it holds more images than that and
    with replacement otherwise; the draws are shuffled and cut to ``N``. Vectorised:
    no Python loop over clusters (k reaches 10,000).
    """
    labels = np.asarray(pseudo_labels)
    num_images = len(labels)
    sizes = np.bincount(labels)
    non_empty = np.flatnonzero(sizes)
    quota = num_images // len(non_empty) + 1
    # Members of each cluster, contiguous and in random order within the cluster.
    members = np.lexsort((rng.random(num_images), labels))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))

    clusters = np.repeat(non_empty, quota)
    draw = np.tile(np.arange(quota), len(non_empty))
    cluster_sizes = sizes[clusters]
    with_replacement = cluster_sizes <= quota
    random_offsets = np.floor(rng.random(len(clusters)) * cluster_sizes).astype(np.int64)
    offsets = np.where(with_replacement, random_offsets, draw)
    picked = members[starts[clusters] + offsets]
    rng.shuffle(picked)
    return picked[:num_images]
