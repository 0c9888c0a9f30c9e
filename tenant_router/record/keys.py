"""How a run names one database: `DbKey(orm, tenant, alias)`, and how people read it."""

from __future__ import annotations

from typing import NamedTuple


class DbKey(NamedTuple):
    """One database of a run. `tenant` None: a reserved (shared) database; `alias` None: a row that stands
    for a whole tenant (or, with both None, a whole ORM) when a custom assistant reports no finer rows.

    Equal to, and hashed like, the plain tuple `(orm, tenant, alias)`."""

    orm: str
    tenant: str | None
    alias: str | None

    @property
    def label(self) -> str:
        """How people name this database (see database_label)."""
        return database_label(self.tenant, self.alias)


def database_label(tenant: str | None, alias: str | None) -> str:
    """How people name a database: "tenant-1/default", "central (reserved)", "tenant-1"."""
    if tenant is None:
        return f"{alias} (reserved)" if alias else "(all tenants)"
    return f"{tenant}/{alias}" if alias else tenant
