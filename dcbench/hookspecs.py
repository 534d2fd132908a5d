"""Every hook a dcbench plugin can implement.

Each hook hands the plugin a ``register`` callback with the signature::

    register(name, factory, *, description="", aliases=(), list_names=None)

``factory`` is called lazily, with keyword arguments only (see docs/plugins.md for
what each kind receives and must return). A ``name`` ending in ``:`` opens a name
space (``timm:``). Hooks are always called with keyword arguments, so new arguments
can be added to a hook later without breaking existing plugins.
"""

from __future__ import annotations

from collections.abc import Callable

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("dcbench")
hookimpl = HookimplMarker("dcbench")

Register = Callable[..., None]


@hookspec
def register_datasets(register: Register) -> None:
    """Register data sets.

    factory(*, root: Path | None, seed: int, **options) -> ImageDataset
    """


@hookspec
def register_preprocessors(register: Register) -> None:
    """Register batch preprocessors (Sobel, colour).

    factory(**options) -> Preprocessor (an nn.Module with ``out_channels``)
    """


@hookspec
def register_backbones(register: Register) -> None:
    """Register convnet backbones.

    factory(*, in_channels: int, image_size: int, **options) -> Backbone
    Name-space factories (name ending in ':') also get ``name``, the part after it.
    """


@hookspec
def register_clusterers(register: Register) -> None:
    """Register clusterers.

    factory(*, k: int, **options) -> Clusterer
    ``k`` is always passed; clusterers with ``uses_k = False`` (PIC) ignore it.
    """


@hookspec
def register_evaluators(register: Register) -> None:
    """Register evaluators.

    factory(**options) -> Evaluator
    """


@hookspec
def register_executors(register: Register) -> None:
    """Register grid executors.

    factory(**options) -> Executor
    """


@hookspec
def register_result_sinks(register: Register) -> None:
    """Register result sinks.

    factory(*, run_dir: Path, **options) -> ResultSink
    """


# Maps each registration hook to the component kind it fills (used by the manager,
# `dcbench plugins` and the docs test).
REGISTRATION_HOOKS: dict[str, str] = {
    "register_datasets": "dataset",
    "register_preprocessors": "preprocessor",
    "register_backbones": "backbone",
    "register_clusterers": "clusterer",
    "register_evaluators": "evaluator",
    "register_executors": "executor",
    "register_result_sinks": "sink",
}

__all__ = ["REGISTRATION_HOOKS", "Register", "hookimpl", "hookspec"]
