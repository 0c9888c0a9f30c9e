"""The Typer app and `main()`, the console script's entry point."""

from __future__ import annotations

import sys
import traceback
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from tenant_router import REDACTOR

from .commands.create import create
from .commands.drift import drift
from .commands.list_backends import list_backends
from .commands.migrate import migrate
from .commands.runs import runs
from .commands.status import status
from .commands.templates import templates
from .exit_codes import EXIT_CODES_HELP, ExitCode
from .suggest import Command, Group

app = typer.Typer(
    name="tenant-router",
    help=f"Migrate every tenant database of a Django project, across ORMs.\n\n{EXIT_CODES_HELP}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # locals hold database URLs; main() prints a masked traceback
    rich_markup_mode=None,
    cls=Group,  # an unknown option suggests only close ones
)


def _show_version(value: bool) -> None:
    if value:
        try:
            found = version("tenant-router")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "unknown (not installed)"
        typer.echo(f"tenant-router {found}")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Migrate every tenant database of a Django project, across ORMs."""


app.command("migrate", cls=Command)(migrate)
app.command("status", cls=Command)(status)
app.command("create", cls=Command)(create)
app.command("templates", cls=Command)(templates)
app.command("drift", cls=Command)(drift)
app.command("list-backends", cls=Command)(list_backends)
app.add_typer(runs, name="runs")


def normalize_argv(args: list[str]) -> list[str]:
    """A bare `--only-failed` (no run id after it) means the last run: `--only-failed=last`."""
    out = []
    for i, arg in enumerate(args):
        following = args[i + 1] if i + 1 < len(args) else None
        if arg == "--only-failed" and (following is None or following.startswith("-")):
            arg = "--only-failed=last"
        out.append(arg)
    return out


def run(args: list[str], prog_name: str | None = None) -> int:
    """Run the CLI on `args` and return its exit code; a bug prints a masked traceback and returns 70."""
    try:
        app(args=normalize_argv(args), prog_name=prog_name, standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return ExitCode.INTERRUPTED
    except Exception as exc:
        sys.stderr.write(REDACTOR("".join(traceback.format_exception(exc))))
        sys.stderr.write(REDACTOR(f"internal error: {type(exc).__name__}: {exc}\n"))
        return ExitCode.INTERNAL
    return ExitCode.OK


def main() -> None:
    """The console script: run the CLI on the command line and exit with its code."""
    sys.exit(run(sys.argv[1:]))
