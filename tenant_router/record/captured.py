"""What the code a run carries out writes (log records, print(), warnings), routed through the run.

A migration, an Alembic env.py (the stock template configures logging from alembic.ini: INFO records on a
handler to stderr) or a library may write to stdout/stderr, in the run's process or in a worker. Written
to the terminal, those lines land inside the live view (a worker even repaints its own stale copy of it)
and in plain or JSON output. While an `OutputCapture` is active, `sys.stdout`/`sys.stderr` (and logging
handlers writing to them) are streams that turn each write into an `OutputLogged` event naming the
database being run (`running()`), its level and logger: the CLI shows it at the level -v/-q set and the
journal keeps it.

What is not turned into an event but written through to the real stream: writes from other threads than
the capture's, and writes made while an event is being delivered (`delivering()`: the run's own callback
printing its progress must reach the terminal, not come back as output).
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import FrameType
from typing import Any, TextIO

from ..safety.redact import REDACTOR
from .events import OutputLogged
from .keys import DbKey

_database: ContextVar[DbKey | None] = ContextVar("tenant_router_output_database", default=None)


class _Delivering(threading.local):
    depth = 0


_delivering = _Delivering()
_active: OutputCapture | None = None  # the capture of this process, while one is active
PARTIAL_MAX = 8192  # characters of a line without its newline kept back before they are emitted anyway


@contextmanager
def running(key: DbKey) -> Iterator[None]:
    """Output written inside the block is about database `key`."""
    token = _database.set(key)
    try:
        yield
    finally:
        if _active is not None:
            _active.flush_lines()
        _database.reset(token)


@contextmanager
def delivering() -> Iterator[None]:
    """An event is being handed to the run's callbacks: what they write goes to the real streams."""
    _delivering.depth += 1
    try:
        yield
    finally:
        _delivering.depth -= 1


class RoutedStream:
    """Stands in for sys.stdout or sys.stderr: while a capture takes this thread's writes, each one
    becomes an event; otherwise the text goes on to the stream it stands in for."""

    def __init__(self, name: str, level: str, original: TextIO) -> None:
        self.name, self.level, self.original = name, level, original

    @property
    def encoding(self) -> str:
        """The real stream's encoding."""
        return getattr(self.original, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        """Route `text` as output of the running database, or pass it on."""
        capture = _active
        if capture is None or not capture.takes():
            return self.original.write(text)
        capture.write(self, text)
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        """write() each line."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush the real stream (nothing of ours is buffered but a partial line)."""
        flush = getattr(self.original, "flush", None)
        if flush is not None:
            flush()

    def isatty(self) -> bool:
        """Never a terminal: whatever asks means to draw on it, and it must not."""
        return False

    def fileno(self) -> int:
        """The real stream's descriptor."""
        return self.original.fileno()

    def writable(self) -> bool:
        """A text stream one writes to."""
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)  # `buffer`, `errors`, ...: the real stream's


class OutputCapture:
    """Routes this thread's stdout/stderr writes and log records to `sink` as OutputLogged events.

    `start()`/`stop()` (or `with`): a run starts one for its whole length; a forked worker for its life,
    with the real streams as `originals` (not the run's live view, which it inherited).
    """

    def __init__(
        self, sink: Callable[[OutputLogged], None], originals: tuple[TextIO, TextIO] | None = None
    ) -> None:
        self.sink, self.originals = sink, originals
        self.thread = threading.get_ident()
        self.partial: dict[str, tuple[RoutedStream, str]] = {}
        self.last: object = None  # the record or warning last routed (several writes of one are one)
        self._saved: tuple[Any, ...] | None = None
        self._handlers: list[tuple[logging.StreamHandler[Any], Any]] = []

    def takes(self) -> bool:
        """True when this write is to become an event."""
        return threading.get_ident() == self.thread and not _delivering.depth

    # -- install ------------------------------------------------------------------------------
    def start(self) -> OutputCapture:
        """Put the routed streams in place of sys.stdout/sys.stderr and of the handlers writing to them."""
        global _active
        out, err = self.originals or (sys.stdout, sys.stderr)
        streams = {
            "stdout": RoutedStream("stdout", "INFO", out),
            "stderr": RoutedStream("stderr", "WARNING", err),
        }
        names = {id(sys.stdout): "stdout", id(sys.__stdout__): "stdout"}
        names |= {id(sys.stderr): "stderr", id(sys.__stderr__): "stderr"}
        for handler in _stream_handlers():
            stream = handler.stream
            name = stream.name if isinstance(stream, RoutedStream) else names.get(id(stream))
            if name is not None and not isinstance(handler, logging.FileHandler):
                self._handlers.append((handler, stream))
                handler.setStream(streams[name])
        self._saved = (_active, sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = streams["stdout"], streams["stderr"]
        _active = self
        return self

    def stop(self) -> None:
        """Put everything back (handlers made meanwhile keep a routed stream: it passes text on)."""
        global _active
        if self._saved is None:
            return
        self.flush_lines()
        _active, sys.stdout, sys.stderr = self._saved
        self._saved = None
        for handler, stream in self._handlers:
            if isinstance(handler.stream, RoutedStream):
                handler.setStream(stream)
        self._handlers = []

    def __enter__(self) -> OutputCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- routing ------------------------------------------------------------------------------
    def write(self, stream: RoutedStream, text: str) -> None:
        """One write: a log record's or a warning's text is that record; anything else, by lines."""
        origin = _origin()
        if origin is not None:
            if origin is not self.last:
                self.last = origin
                self._emit(*_describe(origin))
            return
        self.last = None
        _, before = self.partial.pop(stream.name, (stream, ""))
        *lines, rest = (before + text).split("\n")
        if len(rest) > PARTIAL_MAX:  # a progress bar redrawn with "\r" forever: no newline to wait for
            lines.append(rest)
        elif rest:
            self.partial[stream.name] = (stream, rest)
        for line in lines:
            if line.strip():
                self._emit(stream.level, stream.name, line)

    def flush_lines(self) -> None:
        """Emit what was written without its newline yet (at the end of a database, of the run)."""
        if not self.takes():
            return
        partial, self.partial = self.partial, {}
        for stream, text in partial.values():
            if text.strip():
                self._emit(stream.level, stream.name, text)

    def _emit(self, level: str, logger: str, message: str) -> None:
        key = _database.get()
        orm, tenant, alias = key if key is not None else (None, None, None)
        with delivering():
            self.sink(OutputLogged(orm, tenant, alias, level, logger, REDACTOR(message.rstrip())))


def _stream_handlers() -> list[logging.StreamHandler[Any]]:
    """Every StreamHandler attached to a logger of this process."""
    loggers: list[Any] = [logging.getLogger()]
    loggers += [x for x in list(logging.Logger.manager.loggerDict.values()) if isinstance(x, logging.Logger)]
    found: dict[int, logging.StreamHandler[Any]] = {}
    for each in loggers:
        for handler in each.handlers:
            if isinstance(handler, logging.StreamHandler):
                found[id(handler)] = handler
    return list(found.values())


def _origin() -> logging.LogRecord | warnings.WarningMessage | None:
    """The log record a handler is writing, or the warning being shown, when this write is one."""
    try:
        frame: FrameType | None = sys._getframe(3)  # the caller of RoutedStream.write
    except ValueError:
        return None
    for _ in range(6):
        if frame is None:
            return None
        found = frame.f_locals.get("record")
        if isinstance(found, logging.LogRecord):
            return found
        shown = frame.f_locals.get("msg")
        if isinstance(shown, warnings.WarningMessage):
            return shown
        frame = frame.f_back
    return None


def _describe(origin: logging.LogRecord | warnings.WarningMessage) -> tuple[str, str, str]:
    """(level, logger, message) of a record or a warning."""
    if isinstance(origin, warnings.WarningMessage):
        where = f"{origin.filename}:{origin.lineno}"
        return "WARNING", "py.warnings", f"{origin.category.__name__}: {origin.message} ({where})"
    try:
        message = origin.getMessage()
    except Exception:  # a record whose arguments do not fit its format: as logging would show it
        message = f"{origin.msg!r} {origin.args!r}"
    if origin.exc_info and not origin.exc_text:
        origin.exc_text = logging.Formatter().formatException(origin.exc_info)
    if origin.exc_text:
        message = f"{message}\n{origin.exc_text}"
    return origin.levelname, origin.name, message
