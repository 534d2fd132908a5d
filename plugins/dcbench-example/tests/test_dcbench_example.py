"""Tests a plugin author keeps: the components meet dcbench's contracts.

Run with `pip install -e . && pytest` from this folder.
"""

from __future__ import annotations

import numpy as np
import pytest
from dcbench_example.clusterers import make_agglomerative, make_spherical_kmeans
from dcbench_example.evaluators import make_cluster_balance, make_silhouette

from dcbench import Clusterer, ConfigError, EvalContext, Evaluator


def blobs(n_per: int = 20, k: int = 3, dim: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = np.eye(dim, dtype=np.float32)[:k] * 5
    x = np.concatenate([c + rng.normal(size=(n_per, dim)).astype(np.float32) for c in centres])
    return x, np.repeat(np.arange(k), n_per)


@pytest.mark.parametrize("factory", [make_spherical_kmeans, make_agglomerative])
def test_clusterers_meet_the_contract_and_find_blobs(factory) -> None:
    from sklearn.metrics import adjusted_rand_score

    x, truth = blobs()
    clusterer = factory(k=3)
    assert isinstance(clusterer, Clusterer) and clusterer.uses_k
    result = clusterer.cluster(x, seed=1)
    assert result.labels.dtype == np.int64 and result.labels.shape == (len(x),)
    assert result.num_clusters == 3 and len(np.unique(result.labels)) == 3
    assert adjusted_rand_score(truth, result.labels) > 0.9


def test_spherical_kmeans_is_seeded_and_never_returns_empty_clusters() -> None:
    x, _ = blobs(n_per=4, k=2)
    first = make_spherical_kmeans(k=len(x)).cluster(x, seed=3)
    assert sorted(first.labels) == list(range(len(x)))
    a = make_spherical_kmeans(k=3).cluster(x, seed=5).labels
    assert np.array_equal(a, make_spherical_kmeans(k=3).cluster(x, seed=5).labels)


@pytest.mark.parametrize(
    ("factory", "options", "message"),
    [
        (make_spherical_kmeans, {"k": 3, "nither": 5}, "unknown option"),
        (make_spherical_kmeans, {}, "needs k"),
        (make_agglomerative, {"k": 3, "linkage": "ward2"}, "linkage must be"),
        (make_agglomerative, {"k": 0}, "positive integer"),
        (make_silhouette, {"sample": 5}, "unknown option"),
        (make_cluster_balance, {"x": 1}, "unknown option"),
    ],
)
def test_bad_options_are_config_errors(factory, options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        factory(**options)


def context(features: np.ndarray, pseudo_labels: np.ndarray) -> EvalContext:
    return EvalContext(
        epoch=0, final=False, pseudo_labels=pseudo_labels, previous_pseudo_labels=None,
        true_labels=None, features=features, model=None, dataset=None, device="cpu",
        seed=0, settings={},
    )  # fmt: skip


def test_evaluators_meet_the_contract_and_score_good_clusters_higher() -> None:
    x, truth = blobs()
    shuffled = np.random.default_rng(0).permutation(truth)
    for evaluator in (make_silhouette(), make_cluster_balance()):
        assert isinstance(evaluator, Evaluator)
        assert evaluator.per_epoch and not evaluator.needs_labels
    good = {m.name: m.value for m in make_silhouette().evaluate(context(x, truth))}
    bad = {m.name: m.value for m in make_silhouette().evaluate(context(x, shuffled))}
    assert good["silhouette"] > 0.5 > bad["silhouette"]
    balance = {m.name: m.value for m in make_cluster_balance().evaluate(context(x, truth))}
    assert balance == pytest.approx({"cluster_balance": 1.0, "largest_cluster_share": 1 / 3})
    assert make_silhouette().evaluate(context(x, np.zeros(len(x), dtype=int))) == []
