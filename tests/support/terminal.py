"""A terminal in a string: an Output or a live view rendered by a fixed-size Rich console, read back as text."""

from __future__ import annotations

import io

from rich.console import Console

from tenant_router_cli.live import LiveProgress
from tenant_router_cli.output import Output


def terminal(width: int = 160, height: int = 50) -> Output:
    """An Output as on a terminal of this size, writing into strings."""

    def console() -> Console:
        return Console(file=io.StringIO(), width=width, height=height, force_terminal=True, color_system=None)

    return Output(console(), console(), live=True)


def text_of(console: Console) -> str:
    """What was written to a console made by terminal() or render()."""
    return console.file.getvalue()  # type: ignore[attr-defined]


def render(live: LiveProgress, width: int, height: int) -> list[str]:
    """The live view as a terminal of this size would show it, line by line."""
    console = Console(file=io.StringIO(), width=width, height=height, force_terminal=True, color_system=None)
    console.print(live)
    return text_of(console).rstrip("\n").split("\n")
