"""``dcbench plugins`` and ``dcbench list``: what is installed and what it offers."""

from __future__ import annotations

import typer

from dcbench.hookspecs import REGISTRATION_HOOKS

KINDS = tuple(REGISTRATION_HOOKS.values())


def _kind(raw: str) -> str:
    """``clusterers`` or ``clusterer`` -> ``clusterer``; anything else is an error."""
    from dcbench.errors import ConfigError

    for candidate in (raw, raw.removesuffix("s"), raw.removesuffix("es")):
        if candidate in KINDS:
            return candidate
    raise ConfigError(f"Unknown kind {raw!r}. Available: {', '.join(KINDS)}")


def _debug() -> bool:
    from dcbench.cli import _debug as debug

    return debug()


def register(app: typer.Typer) -> None:
    @app.command("plugins")
    def plugins() -> None:
        """Every plugin: its distribution and version, and its components by kind.

        Plugins that failed to load are listed with the reason (the traceback too with
        --debug); plugins skipped through DCBENCH_DISABLE_PLUGINS are listed as such.
        """
        from dcbench.plugin_manager import load_components

        # Loaded here without warnings: this listing is where failures are reported.
        components = load_components(warn=False)
        for info in components.plugins:
            kind = "built-in" if info.builtin else info.module
            typer.echo(f"{info.name}  {info.origin}  ({kind})")
            for component_kind in KINDS:
                names = info.components.get(component_kind)
                if names:
                    shown = ", ".join(n + "*" if n.endswith(":") else n for n in sorted(names))
                    typer.echo(f"    {component_kind}: {shown}")
        for info in components.disabled:
            typer.echo(f"{info.name}  {info.origin}  (disabled by DCBENCH_DISABLE_PLUGINS)")
        for failure in components.failures:
            typer.echo(f"FAILED {failure.message()}")
            if _debug() and failure.traceback:
                typer.echo(failure.traceback.rstrip(), err=True)

    @app.command("list")
    def list_components(
        kind: str = typer.Argument(..., help=f"One of: {', '.join(KINDS)}."),
        pattern: str = typer.Argument("*", help="Glob, e.g. 'k*' or 'timm:resnet*'."),
    ) -> None:
        """Component names of one kind with their descriptions (exit 1 when none match)."""
        from dcbench.plugin_manager import get_components

        singular = _kind(kind)
        components = get_components()
        registry = components.registry(singular)
        builtin = {p.name for p in components.plugins if p.builtin}
        plugin_of = {e.display_name: e.plugin for e in registry.entries()}
        rows = registry.describe(pattern)
        if not rows:
            typer.echo(f"no {singular} matches {pattern!r}", err=True)
            raise typer.Exit(1)
        width = max(len(name) for name, _ in rows)
        for name, description in rows:
            first_line = description.strip().splitlines()[0] if description.strip() else ""
            plugin = plugin_of.get(name)
            source = f"  [{plugin}]" if plugin and plugin not in builtin else ""
            typer.echo(f"{name.ljust(width)}  {first_line}{source}".rstrip())
