"""Ctrl-C and SIGTERM during a run: the first stops it gracefully, the second aborts."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from tenant_router import request_stop, stop_asked_here, stop_requested

from .exit_codes import ExitCode
from .output import Output


@contextmanager
def graceful_interrupts(output: Output, on_event: object = None) -> Iterator[None]:
    """First signal: start nothing new, let running databases reach a migration boundary. Second: abort.

    The live view (an `on_event` with a `stopping` method) shows the notice in place; otherwise it is
    a line on stderr.
    """
    stopping: Callable[[], None] | None = getattr(on_event, "stopping", None)

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop_asked_here():  # no lock taken in a handler: the code it interrupted may hold it
            raise KeyboardInterrupt
        request_stop()
        if stopping is not None:
            stopping()
            return
        output.error(
            f"{signal.Signals(signum).name}: stopping after the running migrations "
            "(press Ctrl-C again to abort them)"
        )

    def stopped(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(ExitCode.INTERRUPTED)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        # After a stop the run is over and only reporting is left: another signal ends the process
        # now, still as an interrupted run (130), not by the default handler's 128+signal.
        for sig, handler in previous.items():
            signal.signal(sig, stopped if stop_requested() else handler)


@contextmanager
def interrupts_end(output: Output, what: str) -> Iterator[None]:
    """For a command that only reads (drift): Ctrl-C or SIGTERM ends it at once, as Ctrl-C would, so its
    own clean-up (a scratch database dropped) runs; then one line and exit 130."""

    def end(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, end)
    try:
        yield
    except KeyboardInterrupt:
        output.error(f"interrupted: {what}")
        raise SystemExit(ExitCode.INTERRUPTED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
