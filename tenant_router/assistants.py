"""The assistants of one process: built from the run's configuration, bound the same way everywhere.

The run's process, a forked worker and a Celery worker on another machine each hold one `Assistants`;
`AssistantSetup` is what it takes to bind them alike (names and numbers only, so it can travel in a
broker message).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .config import OrmSpec, RouterConfig
from .errors import ConfigurationError, UsageError
from .lockwait import StepLimits
from .orm_backends.base import BaseOrmMigrationAsst
from .report import MigrationReport


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

    def __init__(self, config: RouterConfig, built: dict[str, BaseOrmMigrationAsst] | None = None) -> None:
        self.config = config
        self._built = dict(built or {})

    @classmethod
    def for_run(
        cls,
        config: RouterConfig,
        specs: Sequence[OrmSpec],
        setup: AssistantSetup,
        report: MigrationReport,
        tenants: Sequence[str] | None,
    ) -> Assistants:
        """Build and bind the assistants of `specs` as `setup` says."""
        assistants = cls(config, {spec.key: build_assistant(spec, config) for spec in specs})
        for spec in specs:
            orm_report = report.for_orm(spec.key)
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

    def orms(self) -> list[str]:
        """The ORM keys built so far, in the order they were built."""
        return list(self._built)

    def close(self) -> None:
        """Close every assistant and manager."""
        for asst in self._built.values():
            asst.close()
            asst.manager.close()
