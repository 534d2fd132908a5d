"""Load built-in and third-party plugins into one set of registries.

Order (as pytest does it): the built-ins in :data:`DEFAULT_PLUGINS`, then every entry
point of group ``dcbench``, each validated against the hookspecs. A plugin that fails
to import or implements an unknown hook is recorded and reported once; the others keep
working. ``DCBENCH_DISABLE_PLUGINS=a,b`` skips plugins by name or distribution, and
``DCBENCH_DISABLE_AUTOLOAD=1`` skips entry points altogether (the test suite's default).
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from dcbench import hookspecs
from dcbench.errors import DcbenchError, PluginError
from dcbench.registry import Registry

log = logging.getLogger("dcbench")

ENTRY_POINT_GROUP = "dcbench"
DEFAULT_PLUGINS: tuple[str, ...] = (
    "dcbench.plugins.datasets",
    "dcbench.plugins.preprocess",
    "dcbench.plugins.backbones",
    "dcbench.plugins.timm_backbones",
    "dcbench.plugins.kmeans",
    "dcbench.plugins.pic",
    "dcbench.plugins.evaluators",
    "dcbench.plugins.sinks",
)


@dataclass
class PluginInfo:
    """A loaded plugin, where it came from and what it registered, by kind."""

    name: str
    module: str
    distribution: str
    version: str
    builtin: bool
    components: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class PluginFailure:
    """A plugin that could not be used, with the reason shown to the user."""

    name: str
    distribution: str
    reason: str
    traceback: str = ""

    def message(self) -> str:
        return f"plugin {self.name!r} (from {self.distribution}) was not loaded: {self.reason}"


@dataclass
class Components:
    """Every registry, plus the plugins that filled them."""

    registries: dict[str, Registry[Any]]
    plugins: list[PluginInfo]
    failures: list[PluginFailure]

    def registry(self, kind: str) -> Registry[Any]:
        return self.registries[kind]

    def create(self, kind: str, name: str, **options: Any) -> Any:
        return self.registries[kind].create(name, **options)


def _disabled_names() -> set[str]:
    raw = os.environ.get("DCBENCH_DISABLE_PLUGINS", "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def _autoload_enabled() -> bool:
    return os.environ.get("DCBENCH_DISABLE_AUTOLOAD", "").lower() not in {"1", "true", "yes"}


def _unknown_hooks(plugin: object) -> list[str]:
    known = set(hookspecs.REGISTRATION_HOOKS)
    names = [n for n in dir(plugin) if n.startswith("register_") or _is_hookimpl(plugin, n)]
    return [n for n in names if _is_hookimpl(plugin, n) and n not in known]


def _is_hookimpl(plugin: object, attr: str) -> bool:
    try:
        value = getattr(plugin, attr)
    except Exception:
        return False
    return callable(value) and hasattr(value, "dcbench_impl")


class _Loader:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self.failures: list[PluginFailure] = []
        self.disabled = _disabled_names()

    def add(self, module: ModuleType | object, info: PluginInfo) -> None:
        if {info.name, info.distribution} & self.disabled:
            return
        unknown = _unknown_hooks(module)
        if unknown:
            hints = [
                difflib.get_close_matches(u, hookspecs.REGISTRATION_HOOKS, n=1) for u in unknown
            ]
            detail = ", ".join(
                f"{u!r}" + (f" (did you mean {h[0]!r}?)" if h else "")
                for u, h in zip(unknown, hints, strict=True)
            )
            self._fail(info, f"implements unknown hook {detail}")
            return
        self.pm.register(module, name=info.name)
        self.plugins.append(info)

    def add_entry_points(self) -> None:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else "?"
            version = ep.dist.version if ep.dist is not None else "?"
            info = PluginInfo(ep.name, ep.value, dist, version, builtin=False)
            if {ep.name, dist} & self.disabled:
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                self._fail(info, f"{type(exc).__name__}: {exc}", traceback.format_exc())
                continue
            self.add(module, info)

    def _fail(self, info: PluginInfo, reason: str, tb: str = "") -> None:
        failure = PluginFailure(info.name, info.distribution, reason, tb)
        self.failures.append(failure)
        log.warning(failure.message())

    def fill_registries(self) -> dict[str, Registry[Any]]:
        registries: dict[str, Registry[Any]] = {
            kind: Registry(kind) for kind in hookspecs.REGISTRATION_HOOKS.values()
        }
        by_name = {p.name: p for p in self.plugins}
        for hook_name, kind in hookspecs.REGISTRATION_HOOKS.items():
            caller = getattr(self.pm.hook, hook_name)
            # Called once per plugin (not through the combined hook) so every component
            # knows which plugin registered it: duplicates and `dcbench plugins` need it.
            for impl in reversed(caller.get_hookimpls()):
                plugin = by_name[impl.plugin_name]
                register = _bound_register(registries[kind], plugin, kind)
                try:
                    impl.function(register=register)
                except DcbenchError:
                    raise
                except Exception as exc:
                    self._fail(
                        plugin,
                        f"{hook_name} raised {type(exc).__name__}: {exc}",
                        traceback.format_exc(),
                    )
        return registries


def _bound_register(registry: Registry[Any], plugin: PluginInfo, kind: str):
    def register(name: str, factory: Any, **kwargs: Any) -> None:
        registry.register(name, factory, plugin=plugin.name, **kwargs)
        plugin.components.setdefault(kind, []).append(name)

    return register


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def load_components(extra_plugins: Iterable[object] = ()) -> Components:
    """Build fresh registries from built-ins, entry points and ``extra_plugins``."""
    loader = _Loader()
    version = _version("dcbench")
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        short = module_name.rsplit(".", 1)[-1]
        loader.add(module, PluginInfo(short, module_name, "dcbench", version, builtin=True))
    if _autoload_enabled():
        loader.add_entry_points()
    for extra in extra_plugins:
        name = getattr(extra, "__name__", type(extra).__name__)
        loader.add(extra, PluginInfo(name, name, "(registered in process)", "", builtin=False))
    registries = loader.fill_registries()
    return Components(registries, loader.plugins, loader.failures)


_cache: Components | None = None
_lock = threading.Lock()


def get_components() -> Components:
    """The process-wide components, loaded once."""
    global _cache
    with _lock:
        if _cache is None:
            _cache = load_components()
        return _cache


def reset_components() -> None:
    """Forget the loaded components (tests, or after installing a plugin)."""
    global _cache
    with _lock:
        _cache = None


__all__ = [
    "DEFAULT_PLUGINS",
    "Components",
    "PluginError",
    "PluginFailure",
    "PluginInfo",
    "get_components",
    "load_components",
    "reset_components",
]
