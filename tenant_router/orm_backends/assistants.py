"""The assistants of one process: built from the run's configuration, bound the same way everywhere.

The run's process, a forked worker and a Celery worker on another machine each hold one `Assistants`;
`AssistantSetup` is what it takes to bind them alike (names and numbers only, so it can travel in a
broker message).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..config.model import OrmSpec, RouterConfig
from ..errors import ConfigurationError, UsageError
from ..record.keys import DbKey
from ..record.orm_report import OrmReport
from ..record.report import MigrationReport
from ..safety.lockwait import StepLimits
from .base import BaseOrmMigrationAsst


def build_assistant(spec: OrmSpec, config: RouterConfig) -> BaseOrmMigrationAsst:
    """Instantiate an ORM's assistant with its manager and OPTIONS kwargs."""
    manager = config.manager(spec.key)
    try:
        return spec.asst_class(manager, **spec.asst_options)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"TENANT_ROUTER_ORM_SETTINGS[{spec.key!r}]['OPTIONS']['MIGRATION_ASST']: "
            f"{spec.asst_path} does not accept its OPTIONS: {exc}.",
            check_id="E004",
        ) from exc


@dataclass(frozen=True, slots=True)
class AssistantSetup:
    """How the run binds its assistants: a worker elsewhere binds its own the same way."""

    target: tuple[str, ...] = ()  # --target, for the one ORM of the run
    lock_timeout: float | None = None  # the run lock's wait
    lock_wait: float | None = None  # --lock-wait: a step's wait for a table lock
    statement_timeout: float | None = None  # --statement-timeout

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (a broker message)."""
        return {
            "target": list(self.target),
            "lock_timeout": self.lock_timeout,
            "lock_wait": self.lock_wait,
            "statement_timeout": self.statement_timeout,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AssistantSetup:
        """The inverse of to_dict."""
        return cls(
            tuple(data.get("target") or ()),
            data.get("lock_timeout"),
            data.get("lock_wait"),
            data.get("statement_timeout"),
        )

    @property
    def limits(self) -> StepLimits:
        """The limits every migration step runs under."""
        return StepLimits(self.lock_wait, self.statement_timeout)


class Assistants:
    """The assistants of one process, built once from the run's configuration."""

    def __init__(
        self,
        config: RouterConfig,
        built: dict[str, BaseOrmMigrationAsst] | None = None,
        *,
        keep_settings: bool = True,
    ) -> None:
        self.config = config
        self._built = dict(built or {})
        # Each database's merged settings, computed once per run (merging and URL parsing add up over
        # thousands of tenants; forked workers inherit the memo). keep_settings=False: a run whose
        # databases are migrated on other machines keeps only each database's server, for the
        # per-server cap (the settings would be half a kilobyte per database held for nothing).
        self._settings: dict[DbKey, dict[str, Any] | None] = {}
        self._hosts: dict[DbKey, str | None] = {}
        self._keep_settings = keep_settings
        self._digests: dict[str, str | None] = {}  # each ORM's schema_digest(): its files read once a run

    @classmethod
    def for_run(
        cls,
        config: RouterConfig,
        specs: Sequence[OrmSpec],
        setup: AssistantSetup,
        report: MigrationReport,
        tenants: Sequence[str] | None,
        *,
        keep_settings: bool = True,
    ) -> Assistants:
        """Build and bind the assistants of `specs` as `setup` says."""
        built = {spec.key: build_assistant(spec, config) for spec in specs}
        assistants = cls(config, built, keep_settings=keep_settings)
        for spec in specs:
            orm_report = OrmReport(report, spec.key)
            assistants.get(spec.key).bind(
                orm_report, tenants, lock_timeout=setup.lock_timeout, limits=setup.limits
            )
        if setup.target:
            if len(specs) != 1:
                raise UsageError(
                    "--target applies to one ORM: pick it with --orm.",
                    hint="For example --orm django_orm --target shop 0003, or --orm sqlalchemy_orm --target ae10.",
                )
            assistants.get(specs[0].key).set_target(setup.target)
        return assistants

    def get(self, orm: str) -> BaseOrmMigrationAsst:
        """The assistant of `orm`, built on first use."""
        if orm not in self._built:
            spec = self.config.orms([orm])[0]
            self._built[orm] = build_assistant(spec, self.config)
        return self._built[orm]

    def find_db_config(self, key: DbKey) -> dict[str, Any] | None:
        """A database's settings (tenant None: a reserved one), None when the tenant has no such
        database; computed once per run. `key` is kept as the memo's key. Don't modify the result."""
        found = self._settings.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            orm, tenant, alias = key
            assert alias is not None
            manager = self.get(orm).manager
            found = (
                manager.reserved_db_config(alias)
                if tenant is None
                else manager.tenant_db_config(tenant, alias)
            )
            if found is not None:
                host = manager.host_key(found)
                self._hosts[key] = None if host is None else sys.intern(host)
            if self._keep_settings:
                self._settings[key] = found
        return found

    def db_config(self, key: DbKey) -> dict[str, Any]:
        """A configured database's settings (see find_db_config)."""
        found = self.find_db_config(key)
        assert found is not None, key
        return found

    def host_of(self, key: DbKey) -> str | None:
        """The server a database lives on, for the per-server connection cap (None: SQLite, or a row
        that stands for a whole tenant)."""
        if key.alias is None:
            return None
        if key not in self._hosts:
            self.find_db_config(key)  # notes the host
        return self._hosts.get(key)

    def schema_digest(self, orm: str) -> str | None:
        """The digest of what decides `orm`'s schema (its assistant's schema_digest(): the contents of
        every migration file, versions, options), read once per run. One digest for two uses: the key
        of the template databases, and the Celery code check (a worker whose digest differs from the
        run's runs other code and refuses the run). None: nothing to compare, nothing to copy."""
        if orm not in self._digests:
            self._digests[orm] = self.get(orm).schema_digest()
        return self._digests[orm]

    def orms(self) -> list[str]:
        """The ORM keys built so far, in the order they were built."""
        return list(self._built)

    def close(self) -> None:
        """Close every assistant and manager."""
        for asst in self._built.values():
            asst.close()
            asst.manager.close()


_UNKNOWN: Any = object()
