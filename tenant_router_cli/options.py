"""Options shared by every command."""

from __future__ import annotations

from typing import Annotated

import typer

Settings = Annotated[
    str | None,
    typer.Option(
        "--settings",
        metavar="MODULE",
        envvar="DJANGO_SETTINGS_MODULE",
        help="Django settings module (or DJANGO_SETTINGS_MODULE).",
    ),
]
PythonPath = Annotated[
    list[str] | None,
    typer.Option("--pythonpath", metavar="DIR", help="Folder to put on the Python path first (repeatable)."),
]
Json = Annotated[bool, typer.Option("--json", help="JSON Lines on stdout, nothing else.")]
Traceback = Annotated[bool, typer.Option("--traceback", help="Show tracebacks (passwords masked).")]
