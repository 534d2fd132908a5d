"""The k-means clusterer: quality, determinism, the explicit empty-cluster fix, wiring."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pluggy
import pytest
from sklearn.metrics import normalized_mutual_info_score

from dcbench import hookspecs, plugin_manager
from dcbench.components import Clusterer, ClusteringResult
from dcbench.errors import ConfigError
from dcbench.plugins import kmeans, pic


def _unit_blobs(
    n_blobs: int, per_blob: int, dim: int, noise: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised Gaussian blobs, like the features the loop hands a clusterer."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_blobs, dim))
    truth = np.repeat(np.arange(n_blobs), per_blob)
    x = (centres[truth] + noise * rng.normal(size=(len(truth), dim))).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), truth


def _make(k: int, **options: object) -> Clusterer:
    return kmeans._make_kmeans(k=k, **options)


def _sse(x: np.ndarray, labels: np.ndarray) -> float:
    """The k-means cost of a labelling, computed the obvious way."""
    x64 = x.astype(np.float64)
    return sum(((x64[labels == c] - x64[labels == c].mean(0)) ** 2).sum() for c in set(labels))


def test_recovers_separated_blobs() -> None:
    # Lloyd from a random init can settle in a local minimum (two centroids in one blob,
    # as bare faiss does about as often), so keep the lowest-cost of a few seeds, as
    # faiss's nredo would: the objective must single out the true partition.
    x, truth = _unit_blobs(n_blobs=4, per_blob=100, dim=32, noise=0.05)
    runs = [_make(4).cluster(x, seed=seed) for seed in range(5)]
    best = min(runs, key=lambda result: result.objective)
    assert isinstance(best, ClusteringResult)
    assert best.labels.dtype == np.int64 and best.labels.shape == (400,)
    assert best.num_clusters == 4 and 1 <= best.extra["iterations"] <= 20
    assert normalized_mutual_info_score(truth, best.labels) > 0.99


def test_deterministic_for_a_seed_and_varies_across_seeds() -> None:
    # Uniform points on the sphere: no true clusters, so the seed decides the split.
    x, _ = _unit_blobs(n_blobs=1, per_blob=500, dim=8, noise=1.0)
    clusterer = _make(10)
    first, again = clusterer.cluster(x, seed=3), clusterer.cluster(x, seed=3)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert first.objective == again.objective
    other = clusterer.cluster(x, seed=4)
    assert normalized_mutual_info_score(first.labels, other.labels) < 0.99


def test_stopping_at_a_fixed_point_changes_nothing() -> None:
    x, _ = _unit_blobs(n_blobs=5, per_blob=60, dim=16, noise=0.2)
    long = _make(8, niter=200).cluster(x, seed=0)
    assert long.extra["converged"] == 1.0
    ran = int(long.extra["iterations"])
    assert ran < 200
    exact = _make(8, niter=ran).cluster(x, seed=0)
    np.testing.assert_array_equal(exact.labels, long.labels)
    assert exact.objective == long.objective


def test_every_cluster_is_non_empty() -> None:
    x, _ = _unit_blobs(n_blobs=3, per_blob=100, dim=16, noise=0.3)
    result = _make(40).cluster(x, seed=1)
    assert np.all(np.bincount(result.labels, minlength=40) > 0)
    assert result.labels.max() == 39


def test_duplicate_points_provoke_empty_clusters_that_get_split() -> None:
    # 8 distinct points repeated 25 times and k = 12: several initial centroids coincide,
    # identical centroids leave all but one empty, and 12 clusters can only exist if
    # copies of one point are split between clusters.
    distinct, _ = _unit_blobs(n_blobs=1, per_blob=8, dim=16, noise=1.0)
    x = np.repeat(distinct, 25, axis=0)
    result = _make(12).cluster(x, seed=0)
    assert result.empty_clusters_fixed > 0
    assert np.all(np.bincount(result.labels, minlength=12) > 0)


def test_k_equal_to_n_puts_one_point_per_cluster() -> None:
    x, _ = _unit_blobs(n_blobs=2, per_blob=15, dim=4, noise=0.5)
    result = _make(30, niter=5).cluster(x, seed=2)
    np.testing.assert_array_equal(np.sort(result.labels), np.arange(30))
    assert result.objective == pytest.approx(0.0, abs=1e-9)


def test_objective_is_the_within_cluster_sum_of_squares() -> None:
    x, _ = _unit_blobs(n_blobs=4, per_blob=80, dim=24, noise=0.4)
    result = _make(7).cluster(x, seed=5)
    assert result.objective == pytest.approx(_sse(x, result.labels), rel=1e-5)


def test_split_cluster_perturbs_symmetrically_and_moves_some_points() -> None:
    x = np.array([[1.0, 0.1], [1.0, -0.1], [0.9, 0.0]], dtype=np.float32)
    labels = np.zeros(3, dtype=np.int64)
    centroids = np.array([[1.0, 1.0], [5.0, 5.0]], dtype=np.float32)
    moved = kmeans._split_cluster(x, labels, centroids, donor=0, target=1)
    eps = kmeans.SPLIT_EPS
    np.testing.assert_allclose(centroids, [[1 - eps, 1 + eps], [1 + eps, 1 - eps]])
    assert 1 <= moved <= 2 and np.count_nonzero(labels == 1) == moved


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 11}, r"k=11 is larger than the number of images \(10\)"),
        ({"k": 0}, "positive integer"),
        ({"k": 3, "niter": 0}, "positive integer"),
        ({"k": 3, "n_iter": 5}, "unknown kmeans option"),
    ],
)
def test_bad_options_raise_config_error(options: dict[str, int], message: str) -> None:
    x, _ = _unit_blobs(n_blobs=1, per_blob=10, dim=4, noise=1.0)
    with pytest.raises(ConfigError, match=message):
        kmeans._make_kmeans(**options).cluster(x, seed=0)


def test_hook_registers_through_pluggy() -> None:
    pm = pluggy.PluginManager("dcbench")
    pm.add_hookspecs(hookspecs)
    pm.register(kmeans)
    registered: dict[str, object] = {}
    pm.hook.register_clusterers(
        register=lambda name, factory, **kw: registered.update({name: factory})
    )
    clusterer = registered["kmeans"](k=3)
    assert isinstance(clusterer, Clusterer) and clusterer.uses_k


def test_created_by_the_plugin_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only this task's modules, so the test does not depend on the other built-ins.
    monkeypatch.setattr(plugin_manager, "DEFAULT_PLUGINS", (kmeans.__name__, pic.__name__))
    components = plugin_manager.load_components()
    assert not components.failures
    assert isinstance(components.create("clusterer", "kmeans", k=3), kmeans.KMeansClusterer)


def test_created_with_all_default_plugins() -> None:
    try:
        components = plugin_manager.load_components()
    except ImportError as exc:  # another engineer's built-in is not written yet
        if exc.name in (kmeans.__name__, pic.__name__):
            raise
        pytest.skip(f"built-in plugin missing: {exc.name}")
    assert components.create("clusterer", "kmeans", k=3).uses_k


def test_import_stays_cheap() -> None:
    code = (
        "import sys, dcbench.plugins.kmeans, dcbench.plugins.pic; "
        "heavy = {'faiss', 'torch', 'scipy'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
