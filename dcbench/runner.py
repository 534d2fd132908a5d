"""One run from settings to result files: build components, resume, persist each epoch.

The CLI and every executor call :func:`execute_run`; it owns the run folder (see
:mod:`dcbench.results`) and makes a killed run resumable: the state after each epoch is
checkpointed atomically, and starting the same configuration again continues from it.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from dcbench.components import ImageDataset
from dcbench.config import (
    PAPER_DEFAULTS,
    RunConfig,
    options_for,
    parse_options,
    resolve_config,
)
from dcbench.deepcluster import (
    Components,
    DeepClusterNet,
    EpochHooks,
    RunState,
    new_state,
    resolve_device,
    run_epochs,
    seed_everything,
)
from dcbench.errors import ConfigError, DataError
from dcbench.plugin_manager import Components as Registries
from dcbench.plugin_manager import get_components
from dcbench.progress import Reporter, SilentReporter
from dcbench.results import RunDirectory, atomic_write


@dataclass
class PreparedRun:
    """A resolved configuration with its data set already loaded (for the recipe)."""

    config: RunConfig
    dataset: ImageDataset

    @property
    def run_id(self) -> str:
        return self.config.run_id


@dataclass
class RunOutcome:
    run_id: str
    path: Path
    state: str  # "done" or "skipped" (already done)
    final: dict[str, Any]


def build_dataset(
    settings: Mapping[str, Any], registries: Registries, options: Mapping[str, Any]
) -> ImageDataset:
    name = settings.get("dataset") or PAPER_DEFAULTS["dataset"]
    data = settings.get("data")
    root = Path(data).expanduser() if data else None
    seed = settings.get("seed")
    seed = PAPER_DEFAULTS["seed"] if seed is None else int(seed)
    return registries.create("dataset", name, root=root, seed=seed, **options)


def prepare_run(settings: Mapping[str, Any], registries: Registries | None = None) -> PreparedRun:
    """Resolve user settings against the paper defaults and the data set's recipe.

    Checks everything that can be checked before training: component names, k against
    the number of images, the image size against the backbone.
    """
    registries = registries or get_components()
    options = settings.get("options") or ()
    if options and isinstance(options[0], str):  # raw "component.key=value" strings
        settings = {**settings, "options": parse_options(options)}
    dataset_options = options_for(settings.get("options") or (), "dataset")
    dataset = build_dataset(settings, registries, dataset_options)
    if len(dataset) == 0:
        raise DataError(f"data set {settings.get('dataset')!r} holds no images")
    config = resolve_config(settings, getattr(dataset, "recipe", None) or {})
    config = _canonical_names(config, registries)
    clusterer = registries.create(
        "clusterer", config.clusterer, k=config.k, **config.component_options("clusterer")
    )
    if not clusterer.uses_k:
        recipe_keys = tuple(key for key in config.recipe_keys if key != "k")
        config = dataclasses.replace(config, k=0, recipe_keys=recipe_keys)
    elif config.k > len(dataset):
        raise ConfigError(
            f"--k {config.k} is larger than the number of images ({len(dataset)}) "
            f"in data set {config.dataset!r}"
        )
    # Building on the meta device runs every factory check (image size, channels,
    # options) in no time and without allocating weights.
    with torch.device("meta"):
        build_model(config, registries)
    _check_option_targets(config)
    if config.supervised and dataset.targets is None:
        raise ConfigError(f"--supervised needs labels; data set {config.dataset!r} has none")
    for name in config.evaluators:
        registries.registry("evaluator").get(name)
    return PreparedRun(config, dataset)


_OPTION_KINDS = ("dataset", "preprocessor", "backbone", "clusterer", "evaluator", "sink")


def _check_option_targets(config: RunConfig) -> None:
    """Every ``--opt`` must reach a component of this run; a typo must not vanish."""
    for key, _ in config.options:
        kind, _, rest = key.partition(".")
        if kind not in _OPTION_KINDS:
            raise ConfigError(
                f"--opt {key}: unknown component kind {kind!r}; use one of "
                f"{', '.join(_OPTION_KINDS)}"
            )
        if kind == "evaluator":
            name, dot, _ = rest.partition(".")
            if not dot or name not in config.evaluators:
                raise ConfigError(
                    f"--opt {key}: evaluator options are addressed as evaluator.NAME.KEY, "
                    f"NAME one of this run's evaluators ({', '.join(config.evaluators)})"
                )
        elif "." in rest:
            raise ConfigError(f"--opt {key}: {kind} options are addressed as {kind}.KEY")


def _canonical_names(config: RunConfig, registries: Registries) -> RunConfig:
    """Aliases resolved, so the same run always gets the same id."""
    return dataclasses.replace(
        config,
        preprocess=registries.registry("preprocessor").canonical(config.preprocess),
        backbone=registries.registry("backbone").canonical(config.backbone),
        clusterer=registries.registry("clusterer").canonical(config.clusterer),
        evaluators=tuple(registries.registry("evaluator").canonical(e) for e in config.evaluators),
        sinks=tuple(registries.registry("sink").canonical(s) for s in config.sinks),
    )


def build_model(config: RunConfig, registries: Registries) -> DeepClusterNet:
    preprocess = registries.create(
        "preprocessor", config.preprocess, **config.component_options("preprocessor")
    )
    backbone = registries.create(
        "backbone",
        config.backbone,
        in_channels=preprocess.out_channels,
        image_size=config.image_size,
        **config.component_options("backbone"),
    )
    return DeepClusterNet(preprocess, backbone)


def build_components(prepared: PreparedRun, registries: Registries) -> Components:
    config = prepared.config
    clusterer = registries.create(
        "clusterer", config.clusterer, k=config.k, **config.component_options("clusterer")
    )
    evaluators = {
        name: registries.create("evaluator", name, **config.component_options(f"evaluator.{name}"))
        for name in config.evaluators
    }
    return Components(dataset=prepared.dataset, clusterer=clusterer, evaluators=evaluators)


def execute_run(
    prepared: PreparedRun,
    *,
    registries: Registries | None = None,
    reporter: Reporter | None = None,
    force: bool = False,
) -> RunOutcome:
    """Run (or resume, or skip when already done) one configuration."""
    registries = registries or get_components()
    reporter = reporter or SilentReporter()
    config = prepared.config
    run_dir = RunDirectory(Path(config.out) / config.run_id)
    if run_dir.is_done() and not force:
        return RunOutcome(config.run_id, run_dir.path, "skipped", _read_final(run_dir))

    device = resolve_device(config.device)
    seed_everything(config.seed)
    model = build_model(config, registries).to(device)
    num_classes = None
    if prepared.dataset.targets is not None:
        num_classes = int(prepared.dataset.targets.max()) + 1
    state = new_state(config, model, num_classes)
    components = build_components(prepared, registries)
    sinks = [
        registries.create("sink", name, run_dir=run_dir.path, **config.component_options("sink"))
        for name in config.sinks
    ]
    if run_dir.checkpoint_file.exists() and not force:
        _resume(state, run_dir, device, reporter)
        for row in state.epoch_rows:
            for sink in sinks:
                sink.write_epoch(row)
    elif force:
        run_dir.checkpoint_file.unlink(missing_ok=True)
    run_dir.write_config(config.run_id, config.to_dict(), str(device), torch.get_num_threads())
    run_dir.write_status("running", state.epoch, config.epochs)
    run_dir.error_file.unlink(missing_ok=True)

    hooks = EpochHooks()

    def on_epoch(current: RunState, row: dict[str, Any]) -> None:
        for sink in sinks:
            sink.write_epoch(row)
        if config.checkpoint:
            _save_checkpoint(current, run_dir)
        run_dir.write_status("running", current.epoch, config.epochs)

    hooks.on_epoch = on_epoch
    started = time.perf_counter()
    try:
        final = run_epochs(state, components, device, reporter, hooks)
    except BaseException as exc:
        _record_failure(run_dir, state, exc)
        raise
    finally:
        for sink in sinks:
            sink.close()
    summary = _summary_rows(state, final, hooks.metric_directions, time.perf_counter() - started)
    for sink in sinks:
        sink.write_summary(summary)
    if not config.checkpoint:
        run_dir.checkpoint_file.unlink(missing_ok=True)
    run_dir.write_status("done", state.epoch - 1, config.epochs)
    return RunOutcome(config.run_id, run_dir.path, "done", final)


def _resume(
    state: RunState, run_dir: RunDirectory, device: torch.device, reporter: Reporter
) -> None:
    saved = torch.load(run_dir.checkpoint_file, map_location=device, weights_only=False)
    if _result_settings(saved["config"]) != state.config.result_settings():
        raise ConfigError(f"checkpoint in {run_dir.path} belongs to a different configuration")
    state.load_state_dict(saved)
    reporter.note(f"resuming {run_dir.path.name} after epoch {state.epoch - 1}")


def _result_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    return RunConfig.from_dict(settings).result_settings()


def _save_checkpoint(state: RunState, run_dir: RunDirectory) -> None:
    atomic_write(run_dir.checkpoint_file, lambda tmp: torch.save(state.state_dict(), tmp))


def _record_failure(run_dir: RunDirectory, state: RunState, exc: BaseException) -> None:
    interrupted = isinstance(exc, KeyboardInterrupt)
    status = "interrupted" if interrupted else "failed"
    run_dir.write_status(status, state.epoch, state.config.epochs, error=str(exc) or repr(exc))
    if not interrupted:
        text = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
        run_dir.error_file.write_text(text)


def _summary_rows(
    state: RunState, final: Mapping[str, Any], directions: Mapping[str, bool], seconds: float
) -> list[dict[str, Any]]:
    """The final metrics in long form, each with its direction."""
    rows = [
        {"metric": name, "value": float(final[name]), "higher_is_better": bool(higher)}
        for name, higher in directions.items()
        if name in final
    ]
    losses = [r["train_loss"] for r in state.epoch_rows if not math.isnan(r["train_loss"])]
    extra = {
        "final_train_loss": (losses[-1] if losses else math.nan, False),
        "num_clusters": (final["num_clusters"], True),
        "empty_clusters_fixed_total": (
            sum(r["empty_clusters_fixed"] for r in state.epoch_rows),
            False,
        ),
        "seconds_total": (
            sum(v for r in state.epoch_rows for k, v in r.items() if k.startswith("seconds_")),
            False,
        ),
        "seconds_this_session": (seconds, False),
    }
    rows += [
        {"metric": name, "value": float(value), "higher_is_better": higher}
        for name, (value, higher) in extra.items()
    ]
    return rows


def _read_final(run_dir: RunDirectory) -> dict[str, Any]:
    summary = run_dir.path / "summary.parquet"
    if not summary.exists():
        return {}
    frame = pd.read_parquet(summary)
    return dict(zip(frame["metric"], frame["value"], strict=True))


def run(settings: Mapping[str, Any], **kwargs: Any) -> RunOutcome:
    """Library entry point: ``dcbench.runner.run({"epochs": 2})``."""
    registries = kwargs.pop("registries", None) or get_components()
    return execute_run(prepare_run(settings, registries), registries=registries, **kwargs)


__all__ = ["PreparedRun", "RunOutcome", "execute_run", "prepare_run", "run"]
