"""PIC: quality, data-driven cluster count, singletons, and agreement with the reference."""

from __future__ import annotations

import numpy as np
import pluggy
import pytest
from scipy import sparse
from sklearn.metrics import normalized_mutual_info_score

from dcbench import hookspecs, plugin_manager
from dcbench.components import Clusterer
from dcbench.errors import ConfigError
from dcbench.plugins import kmeans, pic


def _unit_blobs(
    n_blobs: int, per_blob: int, dim: int, noise: float, outliers: int = 0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised Gaussian blobs, optionally followed by scattered outliers."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_blobs, dim))
    truth = np.repeat(np.arange(n_blobs), per_blob)
    x = centres[truth] + noise * rng.normal(size=(len(truth), dim))
    x = np.vstack([x, rng.normal(size=(outliers, dim))]).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), truth


# --- The reference (facebookresearch/deepcluster clustering.py), transcribed as loops ---


def _reference_find_maxima_cluster(w: sparse.csr_matrix, v: np.ndarray) -> np.ndarray:
    n = w.shape[0]
    pointers = list(range(n))
    for i in range(n):
        best_vi = 0
        for entry in range(w.indptr[i], w.indptr[i + 1]):
            j = w.indices[entry]
            vi = w.data[entry] * (v[j] - v[i])
            if vi > best_vi:
                best_vi = vi
                pointers[i] = j
    n_clus = 0
    cluster_ids = -1 * np.ones(n)
    for i in range(n):
        if pointers[i] == i:
            cluster_ids[i] = n_clus
            n_clus += 1
    assign = np.zeros(n)
    for i in range(n):
        current = i
        while pointers[current] != current:
            current = pointers[current]
        assign[i] = cluster_ids[current]
    return assign.astype(np.int64)


def _reference_distribute_singletons(clust: list[int], neighbours: np.ndarray) -> list[int]:
    images_lists: dict[int, list[int]] = {h: [] for h in set(clust)}
    for index, c in enumerate(clust):
        images_lists[c].append(index)
    clust_nn = {}
    for i in images_lists:
        if len(images_lists[i]) == 1:
            s = images_lists[i][0]
            for n in neighbours[s]:
                if len(images_lists[clust[n]]) != 1:
                    clust_nn[s] = n
                    break
    for s in clust_nn:
        del images_lists[clust[s]]
        clust[s] = clust[clust_nn[s]]
        images_lists[clust[s]].append(s)
    return clust


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Relabel clusters by first appearance so two partitions compare exactly."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse]


# --- Tests ---


def test_recovers_blobs_on_the_sphere() -> None:
    x, truth = _unit_blobs(n_blobs=8, per_blob=30, dim=16, noise=0.1)
    result = pic._make_pic(k=8).cluster(x, seed=0)
    assert normalized_mutual_info_score(truth, result.labels) > 0.9
    assert result.labels.dtype == np.int64
    assert result.num_clusters == result.extra["num_clusters"] == result.labels.max() + 1
    assert np.all(np.bincount(result.labels) > 0)


def test_cluster_count_is_data_driven() -> None:
    x, _ = _unit_blobs(n_blobs=8, per_blob=30, dim=16, noise=0.1)
    few, many = pic._make_pic(k=2).cluster(x, seed=0), pic._make_pic(k=100).cluster(x, seed=1)
    np.testing.assert_array_equal(few.labels, many.labels)
    assert few.num_clusters not in (2, 100)
    assert not pic._make_pic(k=2).uses_k


def test_singletons_join_their_nearest_non_singleton_neighbour() -> None:
    # A small sigma leaves scattered outliers as clusters of one.
    x, _ = _unit_blobs(n_blobs=8, per_blob=30, dim=16, noise=0.1, outliers=6)
    kept = pic._make_pic(sigma=0.05, distribute_singletons=False).cluster(x, seed=0)
    assert np.any(np.bincount(kept.labels) == 1)
    spread = pic._make_pic(sigma=0.05).cluster(x, seed=0)
    assert spread.extra["singletons_moved"] > 0
    assert np.all(np.bincount(spread.labels) > 1)


def test_singletons_are_moved_by_the_sizes_before_any_move() -> None:
    # Nodes 3 and 4 are singletons and each other's nearest neighbour: neither may join
    # the other; both go to their next neighbour's cluster. Node 5 has only singletons
    # as neighbours and stays alone.
    labels = np.array([0, 0, 1, 2, 3, 4, 1])
    neighbours = np.array([[1, 2], [0, 2], [6, 0], [4, 0], [3, 6], [3, 4], [2, 0]])
    moved, count = pic.distribute_singletons(labels, neighbours)
    expected = _reference_distribute_singletons(labels.tolist(), neighbours)
    np.testing.assert_array_equal(moved, expected)
    np.testing.assert_array_equal(moved, [0, 0, 1, 0, 1, 4, 1])
    assert count == 2


def _graph(rows: list[list[tuple[int, float]]]) -> sparse.csr_matrix:
    """A CSR matrix whose rows store their entries exactly in the order given."""
    indptr = np.cumsum([0] + [len(row) for row in rows])
    indices = [j for row in rows for j, _ in row]
    data = np.array([weight for row in rows for _, weight in row], dtype=np.float32)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), len(rows)))


@pytest.mark.parametrize(("row_6", "cluster_of_6"), [([2, 4], 0), ([4, 2], 1)])
def test_pointer_following_on_a_hand_built_graph(row_6: list[int], cluster_of_6: int) -> None:
    # Chain 0 -> 1 -> 2 (root). Node 3 sees 2 (weight 3, gain 0.1875) and 4 (weight 1,
    # gain 0.4375): 0.5625 beats 0.4375, so it follows 2. 4 is a root and 5 climbs to it.
    # Node 6 ties between 2 (1 * 0.25) and 4 (0.5 * 0.5): the first stored entry wins.
    weights_6 = {2: 1.0, 4: 0.5}
    w = _graph(
        [
            [(1, 1.0)],
            [(0, 1.0), (2, 1.0)],
            [(1, 1.0), (3, 3.0), (6, 1.0)],
            [(2, 3.0), (4, 1.0)],
            [(3, 1.0), (5, 1.0), (6, 0.5)],
            [(4, 1.0)],
            [(j, weights_6[j]) for j in row_6],
        ]
    )
    v = np.array([0.375, 0.4375, 0.5, 0.3125, 0.75, 0.125, 0.25], dtype=np.float32)
    labels = pic.follow_to_roots(pic.uphill_pointers(w, v))
    np.testing.assert_array_equal(labels, _reference_find_maxima_cluster(w, v))
    np.testing.assert_array_equal(labels, [0, 0, 0, 0, 1, 1, cluster_of_6])


def test_matches_the_reference_loops_end_to_end() -> None:
    x, _ = _unit_blobs(n_blobs=5, per_blob=20, dim=8, noise=0.3, outliers=10, seed=3)
    distances, neighbours = pic.knn_graph(x, nnn=5)
    w = pic.adjacency(distances, neighbours, sigma=0.1)
    v = pic.power_iterate(w, alpha=0.001, iterations=200)
    clust = _reference_find_maxima_cluster(w, v)
    expected = _reference_distribute_singletons(clust.tolist(), neighbours)
    result = pic._make_pic(sigma=0.1).cluster(x, seed=0)
    np.testing.assert_array_equal(_canonical(result.labels), _canonical(np.array(expected)))


def test_power_iteration_matches_the_reference_update() -> None:
    x, _ = _unit_blobs(n_blobs=3, per_blob=20, dim=8, noise=0.2)
    w = pic.adjacency(*pic.knn_graph(x, nnn=5), sigma=0.2)
    n = w.shape[0]
    v = np.ones(n, dtype=np.float32) / n
    for _ in range(200):
        vnext = np.zeros(n, dtype=np.float32) + w.transpose().dot(v)
        vnext = 0.001 * vnext + (1 - 0.001) / n
        vnext /= vnext.sum()
        v = vnext
    assert v.dtype == np.float32
    np.testing.assert_allclose(pic.power_iterate(w, 0.001, 200), v, rtol=1e-6)


def test_deterministic() -> None:
    x, _ = _unit_blobs(n_blobs=4, per_blob=40, dim=12, noise=0.3)
    clusterer = pic._make_pic()
    np.testing.assert_array_equal(
        clusterer.cluster(x, seed=0).labels, clusterer.cluster(x, seed=9).labels
    )


@pytest.mark.parametrize(
    "options",
    [
        {"nnn": 0},
        {"sigma": -1.0},
        {"alpha": 2.0},
        {"iterations": 2.5},
        {"distribute_singletons": "no"},
        {"n_neighbours": 5},
    ],
)
def test_bad_options_raise_config_error(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="pic option"):
        pic._make_pic(k=10, **options)


def test_too_few_images_raise_config_error() -> None:
    x, _ = _unit_blobs(n_blobs=1, per_blob=5, dim=4, noise=1.0)
    with pytest.raises(ConfigError, match="more than nnn=5"):
        pic._make_pic().cluster(x, seed=0)


def test_hook_registers_through_pluggy() -> None:
    pm = pluggy.PluginManager("dcbench")
    pm.add_hookspecs(hookspecs)
    pm.register(pic)
    registered: dict[str, object] = {}
    pm.hook.register_clusterers(
        register=lambda name, factory, **kw: registered.update({name: factory})
    )
    clusterer = registered["pic"](k=3)
    assert isinstance(clusterer, Clusterer) and not clusterer.uses_k


def test_created_by_the_plugin_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin_manager, "DEFAULT_PLUGINS", (kmeans.__name__, pic.__name__))
    components = plugin_manager.load_components()
    assert isinstance(components.create("clusterer", "pic", k=3, nnn=4), pic.PICClusterer)
