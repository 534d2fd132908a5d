"""Named component registries with helpful errors.

One :class:`Registry` per component kind (dataset, backbone, ...). Plugins fill them
through the ``register`` callback their hook receives. A name ending in ``:`` opens a
name space: ``timm:`` resolves ``timm:resnet18`` by handing ``resnet18`` to its factory,
so all of timm is reachable without listing it.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from dcbench.errors import DuplicateComponentError, UnknownComponentError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component: how to build it and who registered it."""

    name: str
    factory: Callable[..., T]
    description: str = ""
    aliases: tuple[str, ...] = ()
    plugin: str = "?"
    # For name spaces: lists the names reachable under the prefix (e.g. timm models).
    list_names: Callable[[str], list[str]] | None = None

    @property
    def is_prefix(self) -> bool:
        return self.name.endswith(":")

    @property
    def display_name(self) -> str:
        return f"{self.name}*" if self.is_prefix else self.name


@dataclass
class Registry(Generic[T]):
    """Components of one kind, by name, alias or name-space prefix."""

    kind: str
    _entries: dict[str, Entry[T]] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)
    # Appended to "Unknown ..." errors, e.g. which plugins failed to load.
    note: str = ""

    def register(
        self,
        name: str,
        factory: Callable[..., T],
        *,
        description: str = "",
        aliases: Iterable[str] = (),
        plugin: str = "?",
        list_names: Callable[[str], list[str]] | None = None,
    ) -> None:
        if not name or name != name.strip():
            raise ValueError(f"invalid {self.kind} name {name!r}")
        if not callable(factory):
            raise TypeError(f"{self.kind} {name!r}: factory must be callable")
        entry = Entry(name, factory, description, tuple(aliases), plugin, list_names)
        for key in (name, *entry.aliases):
            owner = self.owner(key)
            if owner is not None:
                raise DuplicateComponentError(
                    f"{self.kind} {key!r} is registered twice: by plugin {owner.plugin!r} "
                    f"and by plugin {plugin!r}"
                )
        self._entries[name] = entry
        for alias in entry.aliases:
            self._aliases[alias] = name

    def owner(self, key: str) -> Entry[T] | None:
        """The entry that holds ``key`` as its name or an alias (name spaces not expanded)."""
        if key in self._entries:
            return self._entries[key]
        if key in self._aliases:
            return self._entries[self._aliases[key]]
        return None

    def resolve(self, name: str) -> tuple[Entry[T], str | None]:
        """Return the entry for ``name`` and, for a name space, the part after the prefix."""
        entry = self.owner(name)
        if entry is not None and not entry.is_prefix:
            return entry, None
        prefix, sep, rest = name.partition(":")
        if sep and rest and f"{prefix}:" in self._entries:
            return self._entries[f"{prefix}:"], rest
        raise UnknownComponentError(self._unknown_message(name))

    def get(self, name: str) -> Entry[T]:
        return self.resolve(name)[0]

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name`` (aliases resolved, name spaces kept)."""
        entry, rest = self.resolve(name)
        return entry.name + rest if rest is not None else entry.name

    def create(self, name: str, **options: Any) -> T:
        """Build the component; name-space factories get the suffix as ``name``."""
        entry, rest = self.resolve(name)
        if rest is not None:
            return entry.factory(name=rest, **options)
        return entry.factory(**options)

    def __contains__(self, name: object) -> bool:
        try:
            self.resolve(str(name))
        except UnknownComponentError:
            return False
        return True

    def entries(self) -> list[Entry[T]]:
        return sorted(self._entries.values(), key=lambda e: e.name)

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a glob; ``timm:*res*`` lists inside a name space."""
        prefix, sep, rest = pattern.partition(":")
        space = self._entries.get(f"{prefix}:") if sep else None
        if space is not None and space.list_names is not None:
            return [f"{prefix}:{n}" for n in space.list_names(rest or "*")]
        return [e.display_name for e in self.entries() if fnmatch.fnmatch(e.display_name, pattern)]

    def describe(self, pattern: str = "*") -> list[tuple[str, str]]:
        """``(name, description)`` for the names :meth:`names` lists."""
        descriptions = {e.display_name: e.description for e in self.entries()}
        return [(name, descriptions.get(name, "")) for name in self.names(pattern)]

    def _unknown_message(self, name: str) -> str:
        candidates = [*self._entries, *self._aliases]
        plain = [c for c in candidates if not c.endswith(":")]
        close = difflib.get_close_matches(name, plain, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]}?" if close else ""
        available = ", ".join(e.display_name for e in self.entries()) or "none"
        note = f". {self.note}" if self.note else ""
        return f"Unknown {self.kind} {name!r}.{hint} Available: {available}{note}"
