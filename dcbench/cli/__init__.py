"""The ``dcbench`` command line: parses options, calls the library, maps errors.

User mistakes (:class:`DcbenchError`) become one ``error:`` line and exit code 2; a
traceback is shown only with ``--debug`` or ``DCBENCH_DEBUG=1``.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback

import click
import typer

from dcbench.cli import compare as compare_cmd
from dcbench.cli import grid as grid_cmd
from dcbench.cli import plugins as plugins_cmd
from dcbench.cli import run as run_cmd
from dcbench.errors import DcbenchError

app = typer.Typer(
    name="dcbench",
    help="Run, compare and extend DeepCluster experiments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help text: option help holds "[paper: 10000]"-style defaults, not markup.
    rich_markup_mode=None,
)


_options = {"debug": False}


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    _options["debug"] = debug


run_cmd.register(app)
grid_cmd.register(app)
compare_cmd.register(app)
plugins_cmd.register(app)


def _debug() -> bool:
    env = os.environ.get("DCBENCH_DEBUG", "").lower() in {"1", "true", "yes"}
    return env or _options["debug"]


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (tests swap it)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def _configure_logging() -> None:
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("dcbench")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)


def _click_exception_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """Click's exception classes; typer >= 0.20 raises those of its vendored copy."""
    errors: list[type] = [click.ClickException]
    try:
        import typer._click.exceptions as vendored

        errors.append(vendored.ClickException)
    except ImportError:
        pass
    return tuple(errors), (click.exceptions.Abort, typer.Abort)


_CLICK_ERRORS, _CLICK_ABORTS = _click_exception_types()


def _usage_line(exc: Exception) -> str:
    """One line for a command-line mistake, with where to look for help."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    context = getattr(exc, "ctx", None)
    command = context.command_path if context is not None else "dcbench"
    return f"error: {message} (see '{command} --help')"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _configure_logging()
    _options["debug"] = False
    try:
        result = app(args=argv, standalone_mode=False, prog_name="dcbench")
    except _CLICK_ERRORS as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `dcbench`: show the help
            exc.show()
            sys.exit(0)
        print(" ".join(_usage_line(exc).split()), file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except _CLICK_ABORTS:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except DcbenchError as exc:
        if _debug():
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(
            "interrupted: finished epochs are saved; run the same command again to resume",
            file=sys.stderr,
        )
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
