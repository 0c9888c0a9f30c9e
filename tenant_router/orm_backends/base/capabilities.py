"""Capabilities: what an assistant class can do, declared by the class; the run reads it, never guesses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a BaseOrmMigrationAsst class does (its `capabilities`); not coarse nor per tenant: per database.

    * coarse: it takes over the whole ORM; its perform_migrate() is called once per run, one row for the ORM.
    * per_tenant: it migrates whole tenants; migrate_tenant() once per selected tenant, a row per tenant.
    * inspects: the pre-flight can read what a database has pending (bookkeeping_read() or
      inspect_database() answers), so up-to-date databases are settled without migrating.
    """

    coarse: bool = False
    per_tenant: bool = False
    inspects: bool = False

    def __post_init__(self) -> None:
        if self.coarse and self.per_tenant:
            raise ValueError("an assistant takes over the whole ORM (coarse) or migrates tenants, not both")
