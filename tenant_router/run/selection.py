"""Which tenants a run visits: ids, glob patterns and @file lists, exclusions, and stable shards."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from ..errors import SelectionError, UsageError
from ..quoting import quoted

GLOB_CHARS = frozenset("*?[")
PATTERN_HELP = (
    "An exact id always matches itself; anything else is a glob ('acme-*', 'acme-?', 'acme-[12]'; "
    "'[[]' is a literal '['); @FILE reads ids and globs from a file, one per line."
)


def expand(patterns: Iterable[str], option: str) -> list[str]:
    """Patterns as given, with each `@file` replaced by its lines (blank lines and # comments skipped)."""
    out: list[str] = []
    for pattern in patterns:
        if not pattern.startswith("@"):
            out.append(pattern)
            continue
        path = Path(pattern[1:])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UsageError(
                f"{option} {pattern}: cannot read {str(path)!r}: {exc.strerror or exc}."
            ) from exc
        out += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return out


def match(tenant_ids: Sequence[str], patterns: list[str], option: str) -> set[str]:
    """Tenants matching any pattern; an id or pattern that matches nothing is a usage error.

    An exact id always matches itself first (`t[1]` is the tenant `t[1]`, not `t1`); only a
    pattern that is not an id is a glob, where `[[]` stands for a literal `[`.
    """
    chosen: set[str] = set()
    known = set(tenant_ids)
    longest = max(map(len, known), default=0)
    for pattern in patterns:
        if pattern in known:
            chosen.add(pattern)
            continue
        if GLOB_CHARS.isdisjoint(pattern):
            if pattern not in known:
                raise SelectionError(
                    f"Unknown tenant {quoted(pattern)} in {option}: the tenant configuration has no such id.",
                    hint=PATTERN_HELP,
                )
            chosen.add(pattern)
            continue
        found: set[str] = set()
        if _least_length(pattern) <= longest:
            found = {t for t in tenant_ids if fnmatchcase(t, pattern)}
        if not found:
            raise SelectionError(f"Pattern {quoted(pattern)} in {option} matches no tenant.")
        chosen |= found
    return chosen


def _least_length(pattern: str) -> int:
    """The fewest characters a name matching the glob `pattern` has (one pass: no regex is built for a
    pattern longer than every id, which could take seconds for a line of millions of characters)."""
    count, i, end = 0, 0, len(pattern)
    closes = pattern.rfind("]")  # a `[` after the last `]` opens no set
    while i < end:
        char, i = pattern[i], i + 1
        if char == "*":
            continue
        if char == "[" and i <= closes:  # a set, as fnmatch reads it: `[!]...]`, `[]...]`: one character
            j = i + (pattern.startswith("!", i))
            j += pattern.startswith("]", j)
            close = pattern.find("]", j)
            if close != -1:
                i = close + 1
        count += 1
    return count


def shard_of(tenant: str, count: int) -> int:
    """The 1-based shard a tenant belongs to: a stable hash of its id, the same on every machine."""
    digest = hashlib.sha256(tenant.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """`I/N` (1 <= I <= N) -> (I, N)."""
    if text is None:
        return None
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected I/N, for example 2/5.") from None
    if not 1 <= index <= count:
        raise UsageError(f"--shard {text!r}: I must be between 1 and N.")
    return index, count


def select_tenants(
    tenant_ids: Sequence[str],
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    shard: str | tuple[int, int] | None = None,
) -> list[str]:
    """Tenants in configuration order: all (or those `include` matches), minus `exclude`, in `shard`."""
    included = expand(include, "--tenant")
    chosen = match(tenant_ids, included, "--tenant") if included else set(tenant_ids)
    chosen -= match(tenant_ids, expand(exclude, "--exclude"), "--exclude")
    parsed = parse_shard(shard) if isinstance(shard, str) or shard is None else shard
    if parsed is not None:
        index, count = parsed
        chosen = {t for t in chosen if shard_of(t, count) == index}
    return [t for t in tenant_ids if t in chosen]
