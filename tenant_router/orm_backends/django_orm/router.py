"""Routing Django queries to the bound tenant's database, at run time and while migrating."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.signals import setting_changed
from django.db import router as django_router
from django.dispatch import receiver

from ...context import current_binding
from ...errors import ConfigurationError
from .manager import DjangoOrmManager, Strategy

_PREFIX = "tenant_router:"
_runtime_manager: DjangoOrmManager | None = None


def template_alias_of(db: str) -> str:
    """`tenant_router:<tenant>:<alias>` -> `<alias>`; any other alias is returned as is."""
    return db.rsplit(":", 1)[1] if db.startswith(_PREFIX) else db


def runtime_manager() -> DjangoOrmManager | None:
    """The DjangoOrmManager of the current settings (cached until settings change)."""
    global _runtime_manager
    if _runtime_manager is None:
        from ...config import load_config

        config = load_config()
        for spec in config.orms():
            if issubclass(spec.manager_class, DjangoOrmManager):
                manager = config.manager(spec.key)
                assert isinstance(manager, DjangoOrmManager)
                _runtime_manager = manager
                break
    return _runtime_manager


@receiver(setting_changed)
def _forget_manager(**kwargs: Any) -> None:
    global _runtime_manager
    if str(kwargs.get("setting", "")).startswith("TENANT_ROUTER_") or kwargs.get("setting") == "DATABASES":
        _runtime_manager = None


def ask_strategy(strategy: Strategy | None, router: Any, db: str, app_label: str, **kw: Any) -> bool | None:
    """Ask the MIGRATE_STRATEGY callable about a template or reserved alias name."""
    return None if strategy is None else strategy(router, db, app_label, **kw)


class DjangoOrmRouter:
    """Add to DATABASE_ROUTERS: inside `tenant_context_bind(t)` queries go to tenant t's database.

    Models the MIGRATE_STRATEGY keeps off tenant databases are left to the next router.
    """

    def _route(self, model: Any) -> str | None:
        binding = current_binding()
        if binding is None:
            return None
        if binding.connection:
            return binding.connection
        manager = runtime_manager()
        if manager is None:
            return None
        alias = binding.template_alias or manager.template_aliases[0]
        strategy = manager.strategy_for(manager.spec)
        meta = model._meta
        if ask_strategy(strategy, self, alias, meta.app_label, model_name=meta.model_name) is False:
            return None
        return manager.register(binding.tenant, alias)

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        """The bound tenant's database."""
        return self._route(model)

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        """The bound tenant's database."""
        return self._route(model)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        """No opinion."""
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        """Apply MIGRATE_STRATEGY to tenant databases under their template alias name."""
        try:
            manager = runtime_manager()
        except ConfigurationError:
            return None  # `manage.py check` reports the configuration problem as tenant_router.E00x
        strategy = manager.strategy_for(manager.spec) if manager else None
        return ask_strategy(strategy, self, template_alias_of(db), app_label, model_name=model_name, **hints)


class MigrationRouter:
    """Put first in the router chain while migrating, so no tenant row lands anywhere else.

    Reads and writes without `.using()` (data migrations, signal handlers) go to the connection the
    migration binds; `allow_migrate` asks MIGRATE_STRATEGY, then the project's own routers, about the
    template alias, so they answer for tenant databases as they would for the template.
    """

    def __init__(self, strategy: Strategy | None, others: list[Any]) -> None:
        self.strategy, self.others = strategy, others

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        """The connection being migrated."""
        binding = current_binding()
        return binding.connection if binding else None

    db_for_write = db_for_read

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        """No opinion."""
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        """Strategy first, then the project's routers, as if `db` were its template alias."""
        name = template_alias_of(db)
        decided = ask_strategy(self.strategy, self, name, app_label, **hints)
        if decided is not None:
            return decided
        for other in self.others:
            method = getattr(other, "allow_migrate", None)
            if method is not None and (answer := method(name, app_label, **hints)) is not None:
                return bool(answer)
        return True


@contextmanager
def migration_routing(manager: DjangoOrmManager) -> Iterator[None]:
    """Install MigrationRouter at the head of django.db.router for the block."""
    original = list(django_router.routers)
    others = [r for r in original if not isinstance(r, DjangoOrmRouter | MigrationRouter)]
    django_router.routers = [MigrationRouter(manager.strategy_for(manager.spec), others), *original]
    try:
        yield
    finally:
        django_router.routers = original
