"""Built-in grid executors: local (sequential or a process pool), Dask, Slurm (submitit).

Each follows the contract in :mod:`dcbench.grid`: run every cell through
:func:`dcbench.grid.run_cell`, report each result as it finishes, return them in order.
The engines (dask.distributed, submitit) are optional extras imported only when their
executor runs, so a missing one costs nothing until it is asked for.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dcbench import hookimpl
from dcbench.errors import ConfigError
from dcbench.grid import (
    Cell,
    CellResult,
    default_threads,
    failed_result,
    limit_threads,
    run_cell,
    run_cells_in_sequence,
)

OnResult = Callable[[CellResult], None]
# submitit's own default (5 minutes) kills any real run; Slurm users pass --time.
DEFAULT_MINUTES = 60


def _positive(name: str, value: Any, executor: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"executor {executor!r}: {name} must be an integer >= 1, got {value!r}")
    return value


def _reject(executor: str, options: dict[str, Any]) -> None:
    if options:
        raise ConfigError(
            f"executor {executor!r} does not take option(s) {', '.join(sorted(options))}"
        )


def _with_threads(cells: Sequence[Cell], threads: int) -> list[Cell]:
    return [Cell(c.config, force=c.force, threads=threads, prepared=None) for c in cells]


# --- local ------------------------------------------------------------------------------


class LocalExecutor:
    """Cells one after another in this process, or in ``jobs`` worker processes.

    Workers start with ``spawn`` (or ``forkserver``), never a plain fork: forking after
    torch or faiss have started their thread pools hangs the child. The machine's cores
    are divided among the workers (torch, faiss and OpenMP threads).
    """

    def __init__(self, jobs: int = 1, threads: int | None = None, start_method: str = "spawn"):
        self.jobs = jobs
        self.threads = threads or (default_threads(jobs) if jobs > 1 else None)
        self.start_method = start_method

    def run_cells(self, cells: Sequence[Cell], on_result: OnResult) -> list[CellResult]:
        if self.jobs == 1 or len(cells) == 1:
            results = []
            for cell in cells:
                if self.threads:
                    cell = Cell(cell.config, cell.force, self.threads, cell.prepared)
                results.append(run_cell(cell))
                on_result(results[-1])
            return results
        return self._run_pool(cells, on_result)

    def _run_pool(self, cells: Sequence[Cell], on_result: OnResult) -> list[CellResult]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = multiprocessing.get_context(self.start_method)
        results: dict[int, CellResult] = {}
        pool = ProcessPoolExecutor(
            max_workers=min(self.jobs, len(cells)),
            mp_context=context,
            initializer=limit_threads,
            initargs=(self.threads,),
        )
        try:
            futures = {
                pool.submit(run_cell, cell): index
                for index, cell in enumerate(_with_threads(cells, self.threads or 1))
            }
            for future in as_completed(futures):
                index = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # the worker process died (BrokenProcessPool)
                    result = failed_result(cells[index].config, exc)
                results[index] = result
                on_result(result)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return [results[i] for i in range(len(cells))]


def _make_local(
    *, jobs: int = 1, threads: int | None = None, start_method: str = "spawn", **options: Any
) -> LocalExecutor:
    _reject("local", options)
    _positive("jobs", jobs, "local")
    if threads is not None:
        _positive("threads", threads, "local")
    if start_method not in {"spawn", "forkserver"}:
        raise ConfigError(
            f"executor 'local': start_method must be spawn or forkserver (fork hangs after "
            f"torch/faiss have run), got {start_method!r}"
        )
    return LocalExecutor(jobs, threads, start_method)


# --- dask -------------------------------------------------------------------------------


class DaskExecutor:
    """Cells as tasks on a dask.distributed cluster: an existing one (``scheduler``) or a
    LocalCluster of ``jobs`` single-threaded worker processes bound to 127.0.0.1."""

    def __init__(self, jobs: int | None, scheduler: str | None, threads: int | None) -> None:
        self.jobs = jobs or (os.cpu_count() or 1)
        self.scheduler = scheduler
        self.threads = threads or (None if scheduler else default_threads(self.jobs))

    def run_cells(self, cells: Sequence[Cell], on_result: OnResult) -> list[CellResult]:
        try:
            from dask.distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise ConfigError(
                "executor 'dask' needs dask.distributed: pip install dcbench[dask]"
            ) from None
        cluster = None
        if self.scheduler:
            try:
                client = Client(self.scheduler, timeout="20s")
            except OSError as exc:
                raise ConfigError(
                    f"executor 'dask': cannot reach scheduler {self.scheduler}: {exc}"
                ) from None
        else:
            threads = str(self.threads or 1)
            cluster = LocalCluster(
                host="127.0.0.1",
                processes=True,
                n_workers=min(self.jobs, len(cells)),
                threads_per_worker=1,
                dashboard_address=None,
                env={"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads},
            )
            client = Client(cluster)
        try:
            return self._run(client, as_completed, cells, on_result)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def _run(
        self, client: Any, as_completed: Any, cells: Sequence[Cell], on_result: OnResult
    ) -> list[CellResult]:
        cells_sent = _with_threads(cells, self.threads) if self.threads else list(cells)
        futures = client.map(run_cell, cells_sent, pure=False)
        index_of = {future.key: i for i, future in enumerate(futures)}
        results: dict[int, CellResult] = {}
        try:
            for future in as_completed(futures):
                index = index_of[future.key]
                try:
                    result = future.result()
                except Exception as exc:  # KilledWorker, lost connection
                    result = failed_result(cells[index].config, exc)
                results[index] = result
                on_result(result)
        except BaseException:
            client.cancel(futures)
            raise
        return [results[i] for i in range(len(cells))]


def _make_dask(
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    **options: Any,
) -> DaskExecutor:
    _reject("dask", options)
    if jobs is not None:
        _positive("jobs", jobs, "dask")
    if scheduler is not None and "://" not in scheduler:
        raise ConfigError(f"--scheduler expects an address like tcp://HOST:PORT, got {scheduler!r}")
    return DaskExecutor(jobs, scheduler, threads)


# --- slurm (submitit) ---------------------------------------------------------------------


def parse_minutes(value: int | str) -> int:
    """Slurm time limits: minutes (``90``), ``H:MM:SS``, ``MM:SS`` or ``D-HH:MM:SS``."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    text = str(value).strip()
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not match or text.startswith("-"):
        raise ConfigError(f"--time expects minutes or [D-]HH:MM:SS, got {value!r}")
    days, first, second, third = match.groups()
    if second is None:
        minutes = int(first) * (60 if days else 1)
    elif third is None:  # MM:SS, or HH:MM after a day count
        minutes = (
            int(first) * 60 + int(second) if days else int(first) + math.ceil(int(second) / 60)
        )
    else:
        minutes = int(first) * 60 + int(second) + math.ceil(int(third) / 60)
    minutes += int(days or 0) * 24 * 60
    if minutes < 1:
        raise ConfigError(f"--time must be at least one minute, got {value!r}")
    return minutes


class SlurmExecutor:
    """Cells as a Slurm job array through submitit.

    Each array task runs ``cells_per_job`` cells in sequence (1 on a real cluster; off
    Slurm the cells are split over ``jobs`` tasks, since nothing else limits how many run
    at once). ``cluster="local"`` or ``"debug"`` runs the same code path without Slurm;
    with no ``cluster`` submitit picks Slurm when ``sbatch`` exists, else local. The time
    limit defaults to :data:`DEFAULT_MINUTES`.
    """

    def __init__(self, **settings: Any) -> None:
        self.partition: str | None = settings.get("partition")
        self.minutes: int | None = settings.get("minutes")
        self.gpus: int = settings.get("gpus", 0)
        self.jobs: int | None = settings.get("jobs")
        self.cluster: str | None = settings.get("cluster")
        self.folder: str | None = settings.get("folder")
        self.cells_per_job: int | None = settings.get("cells_per_job")
        self.cpus: int | None = settings.get("cpus")
        self.poll_seconds: float = settings.get("poll_seconds", 0.5)

    def _chunks(self, cells: Sequence[Cell], cluster: str) -> list[list[Cell]]:
        per_job = self.cells_per_job
        if per_job is None:
            parallel = self.jobs or os.cpu_count() or 1
            per_job = 1 if cluster == "slurm" else math.ceil(len(cells) / parallel)
        return [list(cells[i : i + per_job]) for i in range(0, len(cells), per_job)]

    def _executor(self, folder: Path) -> Any:
        try:
            import submitit
        except ImportError:
            raise ConfigError(
                "executor 'slurm' needs submitit: pip install dcbench[slurm]"
            ) from None
        executor = submitit.AutoExecutor(folder=folder, cluster=self.cluster)
        parameters: dict[str, Any] = {
            "name": "dcbench",
            "gpus_per_node": self.gpus,
            "timeout_min": self.minutes or DEFAULT_MINUTES,
        }
        if self.cpus:
            parameters["cpus_per_task"] = self.cpus
        if self.partition:
            parameters["slurm_partition"] = self.partition
        if self.jobs:
            parameters["slurm_array_parallelism"] = self.jobs
        executor.update_parameters(**parameters)
        return executor

    def run_cells(self, cells: Sequence[Cell], on_result: OnResult) -> list[CellResult]:
        folder = Path(self.folder) if self.folder else Path(cells[0].config.out) / ".submitit"
        executor = self._executor(folder)
        chunks = self._chunks(cells, executor.cluster)
        if self.cpus:
            chunks = [_with_threads(chunk, self.cpus) for chunk in chunks]
        elif executor.cluster != "slurm":
            threads = default_threads(len(chunks))
            chunks = [_with_threads(chunk, threads) for chunk in chunks]
        jobs = executor.map_array(run_cells_in_sequence, chunks)
        results: dict[int, list[CellResult]] = {}
        try:
            while len(results) < len(jobs):
                for index, job in enumerate(jobs):
                    if index in results or not job.done():
                        continue
                    try:
                        chunk_results = job.result()
                    except Exception as exc:  # timed out, cancelled, node failure
                        chunk_results = [failed_result(c.config, exc) for c in chunks[index]]
                    results[index] = chunk_results
                    for result in chunk_results:
                        on_result(result)
                if len(results) < len(jobs):
                    time.sleep(self.poll_seconds)
        except BaseException:
            for job in jobs:
                job.cancel(check=False)
            raise
        return [r for index in range(len(jobs)) for r in results[index]]


def _make_slurm(
    *,
    partition: str | None = None,
    time: int | str | None = None,
    gpus: int = 0,
    jobs: int | None = None,
    cluster: str | None = None,
    folder: str | None = None,
    cells_per_job: int | None = None,
    threads: int | None = None,
    **options: Any,
) -> SlurmExecutor:
    _reject("slurm", options)
    if cluster not in (None, "slurm", "local", "debug"):
        raise ConfigError(
            f"executor 'slurm': cluster must be slurm, local or debug, got {cluster!r}"
        )
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise ConfigError(f"--gpus must be 0 or more, got {gpus!r}")
    for name, value in (("jobs", jobs), ("cells_per_job", cells_per_job), ("threads", threads)):
        if value is not None:
            _positive(name, value, "slurm")
    return SlurmExecutor(
        partition=partition,
        minutes=parse_minutes(time) if time is not None else None,
        gpus=gpus,
        jobs=jobs,
        cluster=cluster,
        folder=folder,
        cells_per_job=cells_per_job,
        cpus=threads,
    )


@hookimpl
def register_executors(register) -> None:
    register(
        "local",
        _make_local,
        description="this machine: cells in sequence, or in --jobs N worker processes",
    )
    register(
        "dask",
        _make_dask,
        description="dask.distributed: --scheduler tcp://HOST:PORT, or a local cluster",
    )
    register(
        "slurm",
        _make_slurm,
        description="Slurm job arrays through submitit (--partition, --time, --gpus)",
        aliases=("submitit",),
    )
