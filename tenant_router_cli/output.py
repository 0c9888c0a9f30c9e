"""Where output goes: consoles that never show a password, colour only on a terminal."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console

from tenant_router import REDACTOR, printable


class RedactingStream:
    """A text stream that masks every known password before it reaches the real stream."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write `text` with secrets masked."""
        self._stream.write(REDACTOR.stream(text))
        return len(text)

    def flush(self) -> None:
        """Flush the real stream."""
        self._stream.flush()

    def isatty(self) -> bool:
        """Whether the real stream is a terminal."""
        return bool(getattr(self._stream, "isatty", lambda: False)())

    def fileno(self) -> int:
        """The real stream's descriptor (Rich asks for the terminal size)."""
        return self._stream.fileno()


@dataclass
class Output:
    """stdout and stderr as Rich consoles plus a plain line writer; `live` when on a terminal."""

    out: Console
    err: Console
    live: bool

    def line(self, text: str) -> None:
        """One plain line on stdout, no markup, no wrapping; control characters shown as escapes."""
        self.raw(printable(text))

    def raw(self, text: str) -> None:
        """One line on stdout as it is (JSON, already free of control characters)."""
        self.out.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)

    def error(self, text: str) -> None:
        """One plain line on stderr; control characters shown as escapes."""
        self.err.print(printable(text), markup=False, highlight=False, emoji=False, soft_wrap=True)

    def error_block(self, text: str) -> None:
        """Several lines on stderr (a traceback), each one escaped."""
        for line in text.splitlines():
            self.error(line)


def make_output(*, progress: bool = True) -> Output:
    """Consoles for this process: colour and live tables only when stdout is a terminal."""
    stdout, stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
    no_color = bool(os.environ.get("NO_COLOR"))
    out_tty, err_tty = stdout.isatty(), stderr.isatty()
    out = Console(
        file=stdout,  # type: ignore[arg-type]
        force_terminal=out_tty,
        no_color=no_color or not out_tty,
        highlight=False,
        emoji=False,
        soft_wrap=not out_tty,
    )
    err = Console(
        file=stderr,  # type: ignore[arg-type]
        force_terminal=err_tty,
        no_color=no_color or not err_tty,
        highlight=False,
        emoji=False,
        soft_wrap=not err_tty,
    )
    return Output(out, err, live=progress and out_tty and not os.environ.get("CI"))
