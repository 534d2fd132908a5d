"""docs/plugins.md documents every hook with its exact signature."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from dcbench import hookspecs

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def hookspec_signatures() -> dict[str, str]:
    """``name(arg: Type) -> Return`` for each hookspec, annotations as written."""
    specs = {}
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if hasattr(function, "dcbench_spec"):
            # Annotations are strings (postponed evaluation): show them without quotes.
            specs[name] = f"{name}{inspect.signature(function)}".replace("'", "")
    return specs


def documented_signatures() -> dict[str, str]:
    """Signature lines under each ``### `hook_name``` heading of the doc."""
    text = DOC.read_text()
    sections = re.split(r"^### `(\w+)`\s*$", text, flags=re.MULTILINE)
    documented = {}
    for name, body in zip(sections[1::2], sections[2::2], strict=True):
        block = re.search(r"```python\n(.*?)\n```", body, flags=re.DOTALL)
        documented[name] = block.group(1).strip() if block else ""
    return documented


def test_every_hookspec_is_documented_with_its_exact_signature() -> None:
    specs = hookspec_signatures()
    documented = documented_signatures()
    assert specs, "no hookspecs found"
    assert set(specs) == set(hookspecs.REGISTRATION_HOOKS)
    missing = sorted(set(specs) - set(documented))
    assert not missing, f"hooks missing from docs/plugins.md: {missing}"
    for name, signature in specs.items():
        assert documented[name] == signature, f"docs/plugins.md signature of {name} differs"


def test_docs_describe_no_hook_that_does_not_exist() -> None:
    stale = sorted(set(documented_signatures()) - set(hookspec_signatures()))
    assert not stale, f"docs/plugins.md documents hooks that do not exist: {stale}"


def test_docs_name_every_environment_variable_the_loader_reads() -> None:
    text = DOC.read_text()
    for variable in ("DCBENCH_DISABLE_PLUGINS", "DCBENCH_DISABLE_AUTOLOAD", "DCBENCH_DEBUG"):
        assert f"`{variable}`" in text
