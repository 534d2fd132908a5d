"""The grid: expand axes into runs ("cells"), hand them to an executor, resume, report.

A grid is the Cartesian product of its axes, merged with fixed settings, minus the
combinations an ``exclude`` table names. Every cell is an ordinary run with its own
deterministic run id, so a grid started again skips finished cells (the runner answers
"skipped"), resumes interrupted ones from their checkpoint and retries failed ones.
Cells that resolve to the same run id (PIC ignores k, so ``k = [10, 30]`` gives one PIC
run) are merged.

The :class:`Executor` contract, which every ``register_executors`` plugin fulfils::

    factory(**options) -> Executor
    executor.run_cells(cells: Sequence[Cell], on_result: Callable[[CellResult], None])
        -> list[CellResult]

- Run every cell exactly once by calling :func:`run_cell` on it, in any process or on
  any machine that has dcbench installed. A :class:`Cell` pickles without its loaded
  data set; ``run_cell`` rebuilds it where it runs. ``run_cell`` never raises for a
  failing run: the failure comes back as a ``CellResult`` with state ``"failed"`` and
  is recorded in the run folder (``status.json`` and ``error.txt``).
- Call ``on_result`` from the calling thread as each cell finishes (any order), and
  return every result in the order of ``cells``.
- Infrastructure failures (a worker killed, a Slurm job timed out) become failed
  results too, via :func:`failed_result`, so the grid goes on.
- Let ``KeyboardInterrupt`` through after stopping what was started; release pools,
  clusters and clients before returning.
- A setup mistake (engine not installed, bad option) is a :class:`ConfigError`.
- Options an executor does not understand are a :class:`ConfigError` naming them.

Progress is not the executor's business: the CLI reads each cell's ``status.json``
(:func:`poll_cells`), which works the same for threads, processes and Slurm nodes.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import tomllib

from dcbench.config import RunConfig, parse_options
from dcbench.errors import ConfigError, DcbenchError, UnknownComponentError

if TYPE_CHECKING:  # torch stays out of `dcbench grid --help`
    from dcbench.plugin_manager import Components
    from dcbench.runner import PreparedRun

SETTING_NAMES = frozenset(f.name for f in dataclasses.fields(RunConfig)) - {"recipe_keys"}
_TUPLE_SETTINGS = ("evaluators", "sinks")
_TOP_LEVEL_KEYS = {"description", "axes", "fixed", "exclude", "executor"}


# --- the grid specification ------------------------------------------------------------


@dataclass(frozen=True)
class GridSpec:
    """Axes (each a list of values), fixed settings, exclusions, executor defaults.

    Keys are :class:`~dcbench.config.RunConfig` settings (``backbone``, ``k``, ...) or
    component options written with a dot (``"dataset.n_images"``); ``fixed`` may also
    hold ``options`` as a table or a list of ``"component.key=value"`` strings.
    """

    axes: Mapping[str, tuple[Any, ...]]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    exclude: tuple[Mapping[str, Any], ...] = ()
    executor: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        for where, keys in (("axes", self.axes), ("fixed", self.fixed)):
            for key in keys:
                _check_key(key, where)
        for key, values in self.axes.items():
            if not values:
                raise ConfigError(f"grid axis {key!r} has no values")
        known = set(self.axes) | set(self.fixed)
        for rule in self.exclude:
            unknown = sorted(set(rule) - known)
            if unknown:
                raise ConfigError(
                    f"grid exclude names {', '.join(map(repr, unknown))}, which is neither an "
                    f"axis nor a fixed setting (known: {', '.join(sorted(known))})"
                )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "grid") -> GridSpec:
        unknown = sorted(set(data) - _TOP_LEVEL_KEYS)
        if unknown:
            raise ConfigError(
                f"{source}: unknown section(s) {', '.join(unknown)}; "
                f"expected {', '.join(sorted(_TOP_LEVEL_KEYS))}"
            )
        axes_table = _table(data, "axes", source)
        fixed = dict(_table(data, "fixed", source))
        executor = dict(_table(data, "executor", source))
        exclude = data.get("exclude", [])
        if not isinstance(exclude, list) or not all(isinstance(r, dict) for r in exclude):
            raise ConfigError(f"{source}: exclusions are tables: [[exclude]] with key = value")
        axes = {
            key: tuple(values) if isinstance(values, list) else (values,)
            for key, values in axes_table.items()
        }
        return cls(axes, fixed, tuple(exclude), executor, str(data.get("description", "")))

    @classmethod
    def from_toml(cls, path: Path) -> GridSpec:
        if not path.is_file():
            raise ConfigError(f"grid file {str(path)!r} does not exist")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"grid file {str(path)!r} is not valid TOML: {exc}") from None
        return cls.from_mapping(data, source=str(path))

    def with_fixed(self, **overrides: Any) -> GridSpec:
        """The same grid with fixed settings replaced (``None`` leaves a setting alone)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        axes = {k: v for k, v in self.axes.items() if k not in given}
        return dataclasses.replace(self, axes=axes, fixed={**self.fixed, **given})

    def cells(self) -> list[dict[str, Any]]:
        """Every cell's settings (product of the axes, exclusions removed), in order."""
        names = list(self.axes)
        cells = []
        for combo in itertools.product(*(self.axes[n] for n in names)):
            values = {**self.fixed, **dict(zip(names, combo, strict=True))}
            if any(_matches(rule, values) for rule in self.exclude):
                continue
            cells.append(_to_settings(values))
        return cells


def _table(data: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: [{key}] must be a table of settings")
    return value


def _check_key(key: str, where: str) -> None:
    if key in SETTING_NAMES or _is_option(key):
        return
    import difflib

    hint = difflib.get_close_matches(key, sorted(SETTING_NAMES), n=1)
    suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
    raise ConfigError(
        f"unknown grid setting {key!r} in [{where}].{suggestion} Settings: "
        f"{', '.join(sorted(SETTING_NAMES))}, or COMPONENT.KEY for a component option"
    )


def _is_option(key: str) -> bool:
    component, _, name = key.partition(".")
    return bool(component) and bool(name)


def _matches(rule: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """A rule value matches equal values; a list value matches any of its items."""
    for key, wanted in rule.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if values.get(key) not in allowed:
            return False
    return True


def _to_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """Cell values -> run settings: dotted keys and ``options`` merged into sorted pairs."""
    settings: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in values.items():
        if key == "options":
            options.update(_options_mapping(value))
        elif _is_option(key):
            options[key] = value
        elif key in _TUPLE_SETTINGS and isinstance(value, list | tuple):
            settings[key] = tuple(value)
        elif key in _TUPLE_SETTINGS and isinstance(value, str):
            settings[key] = tuple(v.strip() for v in value.split(",") if v.strip())
        else:
            settings[key] = value
    if options:
        settings["options"] = tuple(sorted(options.items()))
    return settings


def _options_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return dict(parse_options(list(value)))
    if isinstance(value, list | tuple):
        return {str(k): v for k, v in value}
    raise ConfigError(f"options must be a table or a list of 'component.key=value', got {value!r}")


# --- cells and their results -------------------------------------------------------------


@dataclass
class Cell:
    """One run of a grid, as handed to an executor.

    ``prepared`` (the resolved run with its data set loaded) is used when the cell runs
    in the process that prepared it and is left out when the cell is pickled.
    """

    config: RunConfig
    force: bool = False
    threads: int | None = None  # torch/faiss threads in the worker; None leaves them
    prepared: PreparedRun | None = field(default=None, repr=False, compare=False)

    @property
    def run_id(self) -> str:
        return self.config.run_id

    @property
    def path(self) -> Path:
        return Path(self.config.out) / self.config.run_id

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "prepared": None}


@dataclass(frozen=True)
class CellResult:
    """How one cell ended: ``done``, ``skipped`` (already done), ``failed``, ``interrupted``."""

    run_id: str
    path: str
    state: str
    error: str = ""
    final: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def run_cell(cell: Cell) -> CellResult:
    """Run one cell where this is called (a worker); failures become a failed result."""
    started = time.perf_counter()
    try:
        limit_threads(cell.threads)
        from dcbench.plugin_manager import get_components
        from dcbench.progress import SilentReporter
        from dcbench.runner import execute_run

        registries = get_components()
        prepared = cell.prepared or rebuild_prepared(cell.config, registries)
        outcome = execute_run(
            prepared, registries=registries, reporter=SilentReporter(), force=cell.force
        )
    except Exception as exc:
        return failed_result(cell.config, exc, time.perf_counter() - started)
    final = {k: v.item() if hasattr(v, "item") else v for k, v in outcome.final.items()}
    return CellResult(
        outcome.run_id, str(outcome.path), outcome.state, "", final, time.perf_counter() - started
    )


def run_cells_in_sequence(cells: Sequence[Cell]) -> list[CellResult]:
    """Several cells in one worker (a Slurm array task that holds many tiny cells)."""
    return [run_cell(cell) for cell in cells]


def rebuild_prepared(config: RunConfig, registries: Components) -> PreparedRun:
    """The prepared run on a worker: the configuration as resolved, its data set reloaded."""
    from dcbench.runner import PreparedRun, build_dataset

    dataset = build_dataset(config.to_dict(), registries, config.component_options("dataset"))
    return PreparedRun(config, dataset)


def limit_threads(threads: int | None) -> None:
    """Cap torch, faiss and OpenMP threads so parallel workers do not oversubscribe."""
    if not threads:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


def failed_result(config: RunConfig, exc: BaseException, seconds: float = 0.0) -> CellResult:
    """Record a failure in the run folder (status, message, traceback) and describe it."""
    from dcbench.results import RunDirectory

    run_dir = RunDirectory(Path(config.out) / config.run_id)
    message = f"{type(exc).__name__}: {exc}"
    details = "".join(traceback.format_exception(exc))
    try:
        if not run_dir.config_file.exists():
            run_dir.write_config(config.run_id, config.to_dict(), "not started")
        epoch = run_dir.read_status().get("epoch", 0)
        run_dir.write_status("failed", epoch, config.epochs, error=message)
        run_dir.error_file.write_text(f"{message}\n\n{details}")
    except OSError as write_error:  # the record is best effort; the result still says why
        message += f" (could not record it in {run_dir.path}: {write_error})"
    return CellResult(config.run_id, str(run_dir.path), "failed", message, {}, seconds)


# --- preparing and running a grid -----------------------------------------------------------


@dataclass
class PreparedGrid:
    """Cells ready to run, cells that failed to prepare, and merged duplicates."""

    cells: list[Cell]
    failed: list[CellResult]
    duplicates: int


def prepare_cells(
    cell_settings: Iterable[Mapping[str, Any]],
    *,
    registries: Components | None = None,
    force: bool = False,
) -> PreparedGrid:
    """Resolve every cell. An unknown component name is a mistake in the grid itself and
    raises; a cell that cannot work (k larger than its data) is recorded as failed."""
    from dcbench.plugin_manager import get_components
    from dcbench.runner import prepare_run

    registries = registries or get_components()
    cells: list[Cell] = []
    failed: list[CellResult] = []
    seen: set[str] = set()
    duplicates = 0
    for settings in cell_settings:
        try:
            prepared = prepare_run(settings, registries)
        except UnknownComponentError:
            raise
        except DcbenchError as exc:
            config = _provisional_config(settings, registries)
            if config is None or config.run_id in seen:
                raise
            seen.add(config.run_id)
            failed.append(failed_result(config, exc))
            continue
        if prepared.run_id in seen:
            duplicates += 1
            continue
        seen.add(prepared.run_id)
        cells.append(Cell(prepared.config, force=force, prepared=prepared))
    return PreparedGrid(cells, failed, duplicates)


def _provisional_config(settings: Mapping[str, Any], registries: Components) -> RunConfig | None:
    """The configuration of a cell that failed its checks, to name its run folder."""
    from dcbench.config import resolve_config
    from dcbench.runner import build_dataset

    try:
        options = settings.get("options") or ()
        if options and isinstance(options[0], str):
            settings = {**settings, "options": parse_options(options)}
        recipe: Mapping[str, Any] = {}
        try:
            dataset_options = dict(settings.get("options") or ())
            dataset = build_dataset(
                settings,
                registries,
                {
                    k.removeprefix("dataset."): v
                    for k, v in dataset_options.items()
                    if k.startswith("dataset.")
                },
            )
            recipe = getattr(dataset, "recipe", None) or {}
        except DcbenchError:
            pass
        return resolve_config(settings, recipe)
    except DcbenchError:
        return None


def default_threads(jobs: int) -> int:
    """Threads per worker when ``jobs`` workers share this machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


@dataclass
class GridReport:
    """Every cell's result, in grid order, and how many duplicate cells were merged."""

    results: list[CellResult]
    duplicates: int = 0

    def counts(self) -> dict[str, int]:
        counts = {"done": 0, "skipped": 0, "failed": 0, "interrupted": 0}
        for result in self.results:
            counts[result.state] = counts.get(result.state, 0) + 1
        return counts

    @property
    def ok(self) -> bool:
        counts = self.counts()
        return counts["failed"] == 0 and counts["interrupted"] == 0

    def summary_line(self) -> str:
        counts = self.counts()
        parts = [f"{counts[s]} {s}" for s in ("done", "skipped", "failed")]
        if counts["interrupted"]:
            parts.append(f"{counts['interrupted']} interrupted")
        line = f"grid: {len(self.results)} cells: " + ", ".join(parts)
        if self.duplicates:
            line += f" ({self.duplicates} duplicate cells merged: same run id)"
        return line


class Executor(Protocol):
    """Runs cells; see the module docstring for the full contract."""

    def run_cells(
        self, cells: Sequence[Cell], on_result: Callable[[CellResult], None]
    ) -> list[CellResult]: ...


def create_executor(
    name: str, options: Mapping[str, Any], registries: Components | None = None
) -> Executor:
    from dcbench.plugin_manager import get_components

    registries = registries or get_components()
    given = {k: v for k, v in options.items() if v is not None}
    return registries.create("executor", name, **given)


def run_grid(
    grid: PreparedGrid,
    executor: Executor,
    on_result: Callable[[CellResult], None] | None = None,
) -> GridReport:
    """Run the prepared cells through ``executor``; failed preparations count as failed."""
    callback = on_result or (lambda result: None)
    for result in grid.failed:
        callback(result)
    results = executor.run_cells(grid.cells, callback) if grid.cells else []
    return GridReport([*grid.failed, *results], grid.duplicates)


# --- progress, read from the run folders ----------------------------------------------------


@dataclass(frozen=True)
class CellView:
    """What a progress view shows for one cell."""

    run_id: str
    state: str  # pending, running, done, skipped, failed, interrupted
    epoch: int
    epochs: int


def poll_cells(
    cells: Sequence[Cell], since: float, finished: Mapping[str, CellResult]
) -> list[CellView]:
    """Each cell's state: finished ones from their results, the others from status.json.

    A ``running`` status written before ``since`` (the grid's start) is a leftover from a
    killed earlier attempt, so that cell is still pending.
    """
    views = []
    for cell in cells:
        result = finished.get(cell.run_id)
        status = _read_status(cell.path / "status.json")
        epochs = int(status.get("epochs", cell.config.epochs))
        epoch = int(status.get("epoch", 0))
        if result is not None:
            state = result.state
        elif status.get("state") == "running" and float(status.get("updated", 0)) >= since:
            state = "running"
        else:
            state = "pending"
        views.append(CellView(cell.run_id, state, epoch, epochs))
    return views


def _read_status(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


__all__ = [
    "Cell",
    "CellResult",
    "CellView",
    "Executor",
    "GridReport",
    "GridSpec",
    "PreparedGrid",
    "create_executor",
    "default_threads",
    "failed_result",
    "limit_threads",
    "poll_cells",
    "prepare_cells",
    "rebuild_prepared",
    "run_cell",
    "run_cells_in_sequence",
    "run_grid",
]
