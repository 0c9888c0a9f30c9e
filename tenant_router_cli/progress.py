"""Pick the progress view: JSON Lines, the live table on a terminal, or plain lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tenant_router import MigrationEvent, PlainProgress

from .live import LiveProgress
from .output import Output
from .render import JsonProgress


@contextmanager
def progress_view(
    output: Output, *, json_output: bool, verbosity: int
) -> Iterator[Callable[[MigrationEvent], None]]:
    """Yield the on_event callback for this output; the live table stops when the block ends."""
    if json_output:
        yield JsonProgress(output, verbosity)
    elif output.live:
        with LiveProgress(output, verbosity) as live:
            yield live
    else:
        yield PlainProgress(output.line, verbosity=verbosity)
