"""Routing Django queries to the bound tenant's database, at run time and while migrating."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.signals import setting_changed
from django.db import router as django_router
from django.dispatch import receiver

from ...config.model import OrmSpec
from ...errors import ConfigurationError
from .binding import install
from .manager import DjangoOrmManager, Strategy

_runtime: tuple[OrmSpec | None, Strategy | None] | None = None


def runtime_spec() -> tuple[OrmSpec | None, Strategy | None]:
    """The Django ORM's TENANT_ROUTER_ORM_SETTINGS entry and its MIGRATE_STRATEGY, imported once
    (cached until settings change: routers are asked on every query).

    Routing needs no tenant configuration, and must not: a TENANT_ROUTER_TENANT_CONFIG callable may read
    the tenants through these very routers (a model on a reserved alias, no `.using()`).
    """
    global _runtime
    if _runtime is None:
        from django.conf import settings

        from ...config.orm_settings import load_orm_specs

        specs = load_orm_specs(settings)
        spec = next((s for s in specs if issubclass(s.manager_class, DjangoOrmManager)), None)
        _runtime = spec, DjangoOrmManager.strategy_for(spec) if spec else None
    return _runtime


@receiver(setting_changed)
def _forget_spec(**kwargs: Any) -> None:
    global _runtime
    if str(kwargs.get("setting", "")).startswith("TENANT_ROUTER_") or kwargs.get("setting") == "DATABASES":
        _runtime = None


def ask_strategy(strategy: Strategy | None, router: Any, db: str, app_label: str, **kw: Any) -> bool | None:
    """Ask the MIGRATE_STRATEGY callable about a template or reserved alias name."""
    return None if strategy is None else strategy(router, db, app_label, **kw)


class DjangoOrmRouter:
    """Add to DATABASE_ROUTERS: routes each model to where MIGRATE_STRATEGY says it lives.

    Template alias names themselves mean the bound tenant's databases (binding.py), so a model that lives
    on a template alias is routed to that name; a model MIGRATE_STRATEGY keeps off every template alias
    goes to the first reserved alias that takes it. Without a strategy it has no opinion.
    """

    def __init__(self) -> None:
        install()  # the router is in use: template aliases resolve to the bound tenant from now on

    def _route(self, model: Any) -> str | None:
        try:
            spec, strategy = runtime_spec()
        except ConfigurationError:
            return None  # `manage.py check` and the CLI report the configuration problem
        if spec is None or strategy is None:
            return None
        meta = model._meta
        for alias in [*spec.template_aliases, *spec.reserved_aliases]:
            if ask_strategy(strategy, self, alias, meta.app_label, model_name=meta.model_name) is True:
                return alias
        return None  # nobody claims it: the next router decides

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        """The alias MIGRATE_STRATEGY places the model on (a template one means the bound tenant's)."""
        return self._route(model)

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        """The alias MIGRATE_STRATEGY places the model on (a template one means the bound tenant's)."""
        return self._route(model)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        """No opinion."""
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        """Apply MIGRATE_STRATEGY to tenant databases under their template alias name."""
        try:
            _, strategy = runtime_spec()
        except ConfigurationError:
            return None  # `manage.py check` reports the configuration problem as tenant_router.E00x
        return ask_strategy(strategy, self, db, app_label, model_name=model_name, **hints)


class MigrationRouter:
    """Put first in the router chain while migrating: MIGRATE_STRATEGY decides what is migrated where.

    A tenant database is migrated under its template alias name, so `allow_migrate` asks the strategy,
    then the project's own routers, exactly what they would be asked if it were the only database; reads
    and writes are left to them as well (`route_to` None). A reserved database pins unrouted queries to
    itself (`route_to` = its alias), since no tenant is bound while it is migrated.
    """

    def __init__(self, strategy: Strategy | None, others: list[Any], route_to: str | None = None) -> None:
        self.strategy, self.others, self.route_to = strategy, others, route_to

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        """The reserved database being migrated, or no opinion."""
        return self.route_to

    db_for_write = db_for_read

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        """No opinion."""
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        """Strategy first, then the project's routers."""
        decided = ask_strategy(self.strategy, self, db, app_label, **hints)
        if decided is not None:
            return decided
        for other in self.others:
            method = getattr(other, "allow_migrate", None)
            if method is not None and (answer := method(db, app_label, **hints)) is not None:
                return bool(answer)
        return True


@contextmanager
def migration_routing(manager: DjangoOrmManager, route_to: str | None = None) -> Iterator[None]:
    """Install MigrationRouter at the head of django.db.router for the block."""
    original = list(django_router.routers)
    others = [r for r in original if not isinstance(r, DjangoOrmRouter | MigrationRouter)]
    django_router.routers = [MigrationRouter(manager.strategy_for(manager.spec), others, route_to), *original]
    try:
        yield
    finally:
        django_router.routers = original
