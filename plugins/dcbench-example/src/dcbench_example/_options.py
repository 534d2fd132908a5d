"""Option checks shared by the factories: every mistake is a dcbench ConfigError."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dcbench import ConfigError


def reject_unknown(component: str, unknown: Mapping[str, Any], known: Iterable[str]) -> None:
    """dcbench passes `--opt kind.key=value` straight to the factory: say what is wrong."""
    if unknown:
        known_text = ", ".join(known) or "none"
        raise ConfigError(
            f"{component}: unknown option(s) {', '.join(sorted(unknown))} (known: {known_text})"
        )


def positive_int(component: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{component}: option {name} must be a positive integer, got {value!r}")
    return value
