"""Load built-in and third-party plugins into one set of registries.

Order (as pytest does it): the built-ins in :data:`DEFAULT_PLUGINS`, then every entry
point of group ``dcbench``. Each plugin is validated with pluggy's ``check_pending``
rules (a hook that is not in :mod:`dcbench.hookspecs` and not marked ``optionalhook``
is an error naming the plugin) and then asked for its components, all hooks at once:
a plugin is either loaded whole or not at all. A plugin that fails to import, is
invalid, or raises while registering is recorded and reported once; the others keep
working. Two plugins registering one name is an error naming both, since dcbench could
not know which one the user meant.

``DCBENCH_DISABLE_PLUGINS=a,b`` skips plugins by plugin or distribution name;
``DCBENCH_DISABLE_AUTOLOAD=1`` skips entry points altogether (the test suite's default);
``DCBENCH_DEBUG=1`` adds the traceback of every failed plugin to its report.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import re
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from dcbench import hookspecs
from dcbench.errors import DcbenchError, DuplicateComponentError, PluginError
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
    "dcbench.plugins.probes",
    "dcbench.plugins.sinks",
    "dcbench.plugins.executors",
)


@dataclass
class PluginInfo:
    """A plugin, where it came from and what it registered, by kind."""

    name: str
    module: str
    distribution: str
    version: str
    builtin: bool
    components: dict[str, list[str]] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        """``distribution version``, the way a user would ``pip install`` it."""
        return f"{self.distribution} {self.version}".strip()


@dataclass
class PluginFailure:
    """A plugin that could not be used, with the reason shown to the user."""

    name: str
    distribution: str
    reason: str
    traceback: str = ""
    version: str = ""

    def message(self) -> str:
        origin = f"{self.distribution} {self.version}".strip()
        return f"plugin {self.name!r} (from {origin}) was not loaded: {self.reason}"


@dataclass
class Components:
    """Every registry, plus the plugins that filled them and those that could not."""

    registries: dict[str, Registry[Any]]
    plugins: list[PluginInfo]
    failures: list[PluginFailure]
    disabled: list[PluginInfo] = field(default_factory=list)

    def registry(self, kind: str) -> Registry[Any]:
        return self.registries[kind]

    def create(self, kind: str, name: str, **options: Any) -> Any:
        return self.registries[kind].create(name, **options)


def normalize_name(name: str) -> str:
    """Distribution names compare like pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _disabled_names() -> set[str]:
    raw = os.environ.get("DCBENCH_DISABLE_PLUGINS", "")
    return {normalize_name(part.strip()) for part in raw.split(",") if part.strip()}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _autoload_enabled() -> bool:
    return not _env_flag("DCBENCH_DISABLE_AUTOLOAD")


@dataclass
class _Registration:
    kind: str
    name: str
    factory: Callable[..., Any]
    description: str
    aliases: tuple[str, ...]
    list_names: Callable[[str], list[str]] | None


class _Loader:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self.failures: list[PluginFailure] = []
        self.disabled: list[PluginInfo] = []
        self.disable = _disabled_names()

    def is_disabled(self, info: PluginInfo) -> bool:
        return bool({normalize_name(info.name), normalize_name(info.distribution)} & self.disable)

    def add(self, plugin: object, info: PluginInfo) -> None:
        if self.is_disabled(info):
            self.disabled.append(info)
            return
        taken = next((p for p in self.plugins if p.name == info.name), None)
        if taken is not None:
            raise PluginError(
                f"two plugins are named {info.name!r}: one from {taken.origin}, one from "
                f"{info.origin}. Uninstall one, or skip one with "
                f"DCBENCH_DISABLE_PLUGINS={info.distribution}"
            )
        try:
            self.pm.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:
            self._fail(info, f"invalid hook implementation: {exc}")
            return
        except ValueError as exc:  # the same module under a second entry-point name
            self._fail(info, str(exc))
            return
        unknown = self._unknown_hooks(plugin)
        if unknown:
            self.pm.unregister(plugin)
            self._fail(info, f"implements unknown hook {unknown}")
            return
        self.plugins.append(info)

    def _unknown_hooks(self, plugin: object) -> str:
        """pluggy's ``check_pending`` for one plugin: hooks without a spec, described."""
        unknown = []
        for caller in self.pm.get_hookcallers(plugin) or []:
            if caller.has_spec():
                continue
            if all(i.optionalhook for i in caller.get_hookimpls() if i.plugin is plugin):
                continue
            hint = difflib.get_close_matches(caller.name, hookspecs.REGISTRATION_HOOKS, n=1)
            unknown.append(f"{caller.name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        return ", ".join(unknown)

    def add_entry_points(self) -> None:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else "(unknown distribution)"
            version = ep.dist.version if ep.dist is not None else ""
            info = PluginInfo(ep.name, ep.value, dist, version, builtin=False)
            if self.is_disabled(info):
                self.disabled.append(info)
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                self._fail(info, _one_line(exc), traceback.format_exc())
                continue
            self.add(module, info)

    def _fail(self, info: PluginInfo, reason: str, tb: str = "") -> None:
        self.failures.append(PluginFailure(info.name, info.distribution, reason, tb, info.version))

    def fill_registries(self) -> dict[str, Registry[Any]]:
        registries: dict[str, Registry[Any]] = {
            kind: Registry(kind) for kind in hookspecs.REGISTRATION_HOOKS.values()
        }
        for info in list(self.plugins):
            staged = self._collect(info)
            if staged is None:
                self.plugins.remove(info)
                continue
            for item in staged:
                self._commit(registries[item.kind], item, info)
        if self.failures:
            names = ", ".join(f"{f.name!r} ({f.distribution})" for f in self.failures)
            note = f"Not loaded: plugin {names}; see `dcbench plugins`."
            for registry in registries.values():
                registry.note = note
        return registries

    def _collect(self, info: PluginInfo) -> list[_Registration] | None:
        """Everything one plugin registers, or None (and a failure) when it raises."""
        staged: list[_Registration] = []
        hook_name = ""
        try:
            for hook_name, kind in hookspecs.REGISTRATION_HOOKS.items():
                for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                    if impl.plugin_name == info.name:
                        arguments = {"register": _recorder(staged, kind)}
                        impl.function(**{a: arguments[a] for a in impl.argnames})
        except DcbenchError as exc:
            self._fail(info, f"{hook_name}: {exc}", traceback.format_exc())
            return None
        except Exception as exc:
            self._fail(info, f"{hook_name} raised {_one_line(exc)}", traceback.format_exc())
            return None
        return staged

    def _commit(self, registry: Registry[Any], item: _Registration, info: PluginInfo) -> None:
        for key in (item.name, *item.aliases):
            owner = registry.owner(key)
            if owner is not None:
                first = next((p for p in self.plugins if p.name == owner.plugin), None)
                first_origin = f" ({first.origin})" if first else ""
                raise DuplicateComponentError(
                    f"{item.kind} {key!r} is registered twice: by plugin {owner.plugin!r}"
                    f"{first_origin} and by plugin {info.name!r} ({info.origin}). "
                    f"Uninstall one, or skip one with DCBENCH_DISABLE_PLUGINS={info.name}"
                )
        registry.register(
            item.name,
            item.factory,
            description=item.description,
            aliases=item.aliases,
            plugin=info.name,
            list_names=item.list_names,
        )
        info.components.setdefault(item.kind, []).append(item.name)


def _recorder(staged: list[_Registration], kind: str) -> hookspecs.Register:
    """The ``register`` callback a hook receives; checks arguments, defers the rest."""

    def register(
        name: str,
        factory: Callable[..., Any],
        *,
        description: str = "",
        aliases: Iterable[str] = (),
        list_names: Callable[[str], list[str]] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or name != name.strip():
            raise ValueError(f"invalid {kind} name {name!r}")
        if not callable(factory):
            raise TypeError(f"{kind} {name!r}: factory must be callable")
        if isinstance(aliases, str):
            raise TypeError(f"{kind} {name!r}: aliases must be a list of names, not a string")
        staged.append(
            _Registration(kind, name, factory, str(description), tuple(aliases), list_names)
        )

    return register


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def load_components(extra_plugins: Iterable[object] = (), *, warn: bool = True) -> Components:
    """Build fresh registries from built-ins, entry points and ``extra_plugins``.

    ``warn`` logs each failed plugin once (``dcbench plugins`` lists them itself).
    """
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
        loader.add(extra, PluginInfo(name, name, "in-process", "", builtin=False))
    registries = loader.fill_registries()
    if warn:
        for failure in loader.failures:
            log.warning(failure.message())
            if _env_flag("DCBENCH_DEBUG") and failure.traceback:
                log.warning(failure.traceback.rstrip())
    return Components(registries, loader.plugins, loader.failures, loader.disabled)


_cache: Components | None = None
_lock = threading.Lock()


def get_components() -> Components:
    """The process-wide components, loaded once (so failures are reported once)."""
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
    "normalize_name",
    "reset_components",
]
