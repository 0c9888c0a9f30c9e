"""`manage.py tenant_router migrate|status|drift|list-backends|runs ...`: the console script, under manage.py.

The one place in `tenant_router` that calls into `tenant_router_cli`, and only lazily, when the command
runs: the library stays free of Typer and Rich. Options and exit codes are the console script's;
`--settings` and `--pythonpath` are manage.py's own (already applied when this runs).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser

_MANAGE_OPTIONS = ("--settings", "--pythonpath")


def without_manage_options(args: list[str]) -> list[str]:
    """`args` minus manage.py's --settings/--pythonpath (Django has applied them already)."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _MANAGE_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{o}=" for o in _MANAGE_OPTIONS)):
            out.append(arg)
    return out


def _run(args: list[str], prog_name: str) -> int:
    from tenant_router_cli.app import run  # lazily: only the command-line entry point needs Typer

    return run(without_manage_options(args), prog_name=prog_name)


class Command(BaseCommand):
    help = (
        "tenant-router's commands (migrate, status, drift, list-backends, runs) with the console script's "
        "options and exit codes: manage.py tenant_router migrate --help"
    )
    requires_system_checks: list[str] = []  # the commands validate the configuration themselves

    def run_from_argv(self, argv: list[str]) -> NoReturn:
        """`manage.py tenant_router ARGS`: exit with the console script's exit code."""
        sys.exit(_run(argv[2:], f"{argv[0].rsplit('/', 1)[-1]} {argv[1]}"))

    def print_help(self, prog_name: str, subcommand: str) -> None:
        """`manage.py help tenant_router`: the console script's help."""
        _run(["--help"], f"{prog_name.rsplit('/', 1)[-1]} {subcommand}")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER, help="A tenant-router command and its options.")

    def handle(self, *args: Any, **options: Any) -> None:
        """call_command("tenant_router", "migrate", ...): a non-zero exit code is a CommandError."""
        code = _run(list(args), "tenant_router")
        if code:
            raise CommandError(f"tenant-router exited with code {code}.", returncode=code)
