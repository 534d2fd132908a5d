"""How the library reports progress without knowing about terminals.

The training loop talks to a :class:`Reporter`; the CLI passes one that draws rich
progress bars, tests and executors pass :class:`SilentReporter`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

Advance = Callable[[int], None]


class Reporter(Protocol):
    def phase(self, name: str, total: int | None) -> Any:
        """A context manager yielding ``advance(n)`` for one phase of an epoch."""

    def epoch_done(self, row: Mapping[str, Any]) -> None:
        """Called with the epoch's result row once it is written."""

    def note(self, text: str) -> None:
        """A one-line remark (skipped evaluator, resumed run)."""


class SilentReporter:
    """Reports nothing; collects notes so callers can still inspect them."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    @contextmanager
    def phase(self, name: str, total: int | None) -> Iterator[Advance]:
        yield lambda n: None

    def epoch_done(self, row: Mapping[str, Any]) -> None:
        pass

    def note(self, text: str) -> None:
        self.notes.append(text)
