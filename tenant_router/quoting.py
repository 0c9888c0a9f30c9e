"""How a name a user gave (a tenant id, a pattern, a key) appears in a message: quoted, control characters
escaped, and a long one shortened in the middle, so one bad line of input stays one short line of output."""

from __future__ import annotations

#: A longer name keeps its first HEAD and last TAIL characters: ids often differ at either end.
HEAD, TAIL = 40, 20


def quoted(name: str, head: int = HEAD, tail: int = TAIL) -> str:
    """`name` as repr() quotes it; past head + tail characters `'first…last' (N characters)`."""
    if len(name) <= head + tail + 1:
        return repr(name)
    return f"{name[:head] + '…' + name[-tail:]!r} ({len(name):,} characters)"
