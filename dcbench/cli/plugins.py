"""``dcbench plugins`` and ``dcbench list``: what is installed and what it offers."""

from __future__ import annotations

import typer

KINDS = ("dataset", "preprocessor", "backbone", "clusterer", "evaluator", "executor", "sink")


def register(app: typer.Typer) -> None:
    @app.command("plugins")
    def plugins() -> None:
        """Every loaded plugin, its distribution and version, and its components."""
        from dcbench.plugin_manager import get_components

        components = get_components()
        for info in components.plugins:
            origin = f"{info.distribution} {info.version}".strip()
            typer.echo(f"{info.name}  ({origin}{', built-in' if info.builtin else ''})")
            for kind, names in sorted(info.components.items()):
                shown = ", ".join(n + "*" if n.endswith(":") else n for n in names)
                typer.echo(f"    {kind}: {shown}")
        for failure in components.failures:
            typer.echo(f"FAILED {failure.message()}", err=True)

    @app.command("list")
    def list_components(
        kind: str = typer.Argument(..., help=f"One of: {', '.join(KINDS)}."),
        pattern: str = typer.Argument("*", help="Glob, e.g. 'timm:resnet*'."),
    ) -> None:
        """Component names of one kind with their descriptions."""
        from dcbench.errors import ConfigError
        from dcbench.plugin_manager import get_components

        singular = kind.rstrip("s") if kind.rstrip("s") in KINDS else kind
        if singular not in KINDS:
            raise ConfigError(f"Unknown kind {kind!r}. Available: {', '.join(KINDS)}")
        registry = get_components().registry(singular)
        rows = registry.describe(pattern)
        width = max((len(name) for name, _ in rows), default=0)
        for name, description in rows:
            typer.echo(f"{name.ljust(width)}  {description}".rstrip())
