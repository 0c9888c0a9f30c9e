"""Which tenants a run visits: --tenant and --exclude over the configured tenant ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .errors import SelectionError


def select_tenants(
    tenant_ids: Sequence[str], include: Iterable[str] = (), exclude: Iterable[str] = ()
) -> list[str]:
    """Tenants in configuration order: all (or `include`) minus `exclude`; unknown ids are errors."""
    include, exclude = list(include), list(exclude)
    known = set(tenant_ids)
    for name, given in (("--tenant", include), ("--exclude", exclude)):
        unknown = [t for t in given if t not in known]
        if unknown:
            raise SelectionError(
                f"Unknown tenant {unknown[0]!r} in {name}: the tenant configuration has no such id.",
                hint="`tenant-router list-backends` shows how many tenants each ORM has.",
            )
    chosen = set(include) if include else known
    return [t for t in tenant_ids if t in chosen and t not in set(exclude)]
