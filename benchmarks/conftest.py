"""Shared set-up of the speed suites: thread counts, sizes, data, and same-run ratios.

Every suite times a dcbench implementation next to a baseline in the same process and
the same run, so the numbers that matter are ratios, not absolute times from another
day or machine. Each pair shares a pytest-benchmark ``group``; the baseline test runs
first, records its median, and the dcbench test stores ``speedup_vs_baseline``
(baseline median / dcbench median, > 1 means dcbench is faster) in its ``extra_info``.
A table of all ratios is printed at the end of the run.
"""

from __future__ import annotations

import os

# Before numpy / torch / faiss start their thread pools.
THREADS = int(os.environ.get("DCBENCH_BENCH_THREADS", "2"))
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
os.environ.setdefault("DCBENCH_DISABLE_AUTOLOAD", "1")

from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager, suppress  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(THREADS)
faiss.omp_set_num_threads(THREADS)

SIZES = ("small", "paper")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bench-size",
        choices=SIZES,
        default=os.environ.get("DCBENCH_BENCH_SIZE", "small"),
        help="problem sizes of the speed suites: small (default, ~1-2 min on 2 cores) or "
        "paper (k-means 100k x 256, k=1000; PIC 20k points). Env: DCBENCH_BENCH_SIZE.",
    )


@pytest.fixture(scope="session")
def bench_size(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--bench-size"))


def gaussian_mixture(n: int, d: int, k: int, seed: int, spread: float = 1.0) -> np.ndarray:
    """L2-normalised float32 rows around ``k`` random centres (what k-means/PIC see).

    ``spread`` = 1 puts the noise at the size of the centres, so Lloyd's loop does not
    settle in a handful of iterations, as on real PCA'd features.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d), dtype=np.float32)
    labels = rng.integers(0, k, n)
    x = centres[labels] + spread * rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


# --- same-run ratios ---------------------------------------------------------------

_baselines: dict[str, float] = {}
_ratios: list[tuple[str, float, float, float]] = []  # group, baseline s, dcbench s, ratio


def _median(benchmark: Any) -> float | None:
    stats = getattr(benchmark, "stats", None)  # None under --benchmark-disable
    return None if stats is None else float(stats.stats.median)


def record_baseline(benchmark: Any) -> None:
    """Remember the baseline's median for the dcbench test of the same group."""
    median = _median(benchmark)
    if median is not None:
        _baselines[benchmark.group] = median
        benchmark.extra_info["role"] = "baseline"


def record_dcbench(benchmark: Any) -> float | None:
    """Store baseline/dcbench (a speed-up) in extra_info; None if the baseline did not run."""
    median = _median(benchmark)
    benchmark.extra_info["role"] = "dcbench"
    baseline = _baselines.get(benchmark.group)
    if median is None or baseline is None:
        return None
    ratio = baseline / median
    benchmark.extra_info["speedup_vs_baseline"] = round(ratio, 3)
    _ratios.append((benchmark.group, baseline, median, ratio))
    return ratio


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ratios:
        return
    write = terminalreporter.write_line
    write("")
    write(f"same-run ratios (baseline median / dcbench median; {THREADS} threads)")
    width = max(len(group) for group, *_ in _ratios)
    for group, baseline, ours, ratio in _ratios:
        write(
            f"  {group:<{width}}  baseline {baseline:9.4f} s  dcbench {ours:9.4f} s  x{ratio:.2f}"
        )


# --- peak memory -------------------------------------------------------------------


@dataclass
class PeakMemory:
    """Peak resident memory above the starting point, in MiB (None if not measurable)."""

    mib: float | None = None


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _release_free_heap() -> None:
    """Hand freed heap pages back to the OS, or an earlier run's pages hide new ones."""
    import ctypes
    import gc

    gc.collect()
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextmanager
def peak_rss() -> Iterator[PeakMemory]:
    """Peak RSS growth of the block, via Linux's resettable high-water mark.

    tracemalloc does not see torch's allocations, and ru_maxrss never goes down, so
    the kernel's VmHWM is reset (``clear_refs`` 5) before the block and read after it.
    """
    result = PeakMemory()
    _release_free_heap()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        start = _status_kib("VmRSS")
    except OSError:
        start = None
    yield result
    peak = _status_kib("VmHWM")
    if start is not None and peak is not None:
        result.mib = max(peak - start, 0) / 1024


# --- fixtures (test modules take these rather than importing conftest) -------------


@dataclass(frozen=True)
class SameRun:
    """The ratio helpers, handed to tests as one fixture."""

    baseline: Callable[[Any], None] = record_baseline
    dcbench: Callable[[Any], float | None] = record_dcbench


@pytest.fixture(scope="session")
def same_run() -> SameRun:
    return SameRun()


@pytest.fixture(scope="session")
def mixture() -> Callable[..., np.ndarray]:
    return gaussian_mixture


@pytest.fixture(scope="session")
def measure_peak() -> Callable[[], Any]:
    return peak_rss
