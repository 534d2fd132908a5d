"""PIC (dcbench.plugins.pic), phase by phase, against its floor: the exact kNN search.

There is no faiss PIC to compare with; the exact 6-NN search is what any PIC must do,
so the ratio says how many "kNN searches" the whole clustering costs. Each phase's
time (one untimed run) goes into extra_info. Sizes: small = 10k points, paper = 20k,
at 256-d as after DeepCluster's PCA.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import faiss
import numpy as np
import pytest

from dcbench.plugins import pic
from dcbench.plugins.pic import PICClusterer

SIZES = {"small": 10_000, "paper": 20_000}
DIM = 256
ROUNDS = 3
GROUP = "pic"


@pytest.fixture(scope="module")
def points(bench_size: str, mixture: Callable[..., np.ndarray]) -> np.ndarray:
    return mixture(SIZES[bench_size], DIM, 100, seed=0, spread=0.5)


def _knn_only(x: np.ndarray) -> np.ndarray:
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    return index.search(x, PICClusterer.nnn + 1)[1]


def _phases(x: np.ndarray) -> dict[str, float]:
    """Seconds per phase of PICClusterer.cluster, in its order."""
    clusterer = PICClusterer()
    times: dict[str, float] = {}

    def timed(name: str, function: Callable[..., Any], *args: Any) -> Any:
        start = time.perf_counter()
        value = function(*args)
        times[name] = round(time.perf_counter() - start, 4)
        return value

    distances, neighbours = timed("knn", pic.knn_graph, x, clusterer.nnn)
    graph = timed("adjacency", pic.adjacency, distances, neighbours, clusterer.sigma)
    v = timed("power_iterate", pic.power_iterate, graph, clusterer.alpha, clusterer.iterations)
    pointers = timed("uphill_pointers", pic.uphill_pointers, graph, v)
    labels = timed("follow_to_roots", pic.follow_to_roots, pointers)
    timed("distribute_singletons", pic.distribute_singletons, labels, neighbours)
    return times


def test_knn_search_floor(benchmark: Any, points: np.ndarray, same_run: Any) -> None:
    benchmark.group = GROUP
    benchmark.pedantic(_knn_only, args=(points,), rounds=ROUNDS, iterations=1)
    same_run.baseline(benchmark)


def test_dcbench_pic(benchmark: Any, points: np.ndarray, same_run: Any) -> None:
    benchmark.group = GROUP
    result = benchmark.pedantic(
        PICClusterer().cluster, args=(points,), kwargs={"seed": 0}, rounds=ROUNDS, iterations=1
    )
    benchmark.extra_info.update(
        n=len(points),
        d=DIM,
        num_clusters=result.num_clusters,
        phases_s=_phases(points),
    )
    same_run.dcbench(benchmark)
