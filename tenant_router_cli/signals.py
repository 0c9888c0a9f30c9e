"""Ctrl-C and SIGTERM during a run: the first stops it gracefully, the second aborts."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from tenant_router.cancel import request_stop, stop_requested

from .output import Output


@contextmanager
def graceful_interrupts(output: Output) -> Iterator[None]:
    """First signal: start nothing new, let running databases reach a migration boundary. Second: abort."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop_requested():
            raise KeyboardInterrupt
        request_stop()
        output.error(
            f"{signal.Signals(signum).name}: stopping after the running migrations "
            "(press Ctrl-C again to abort them)"
        )

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
