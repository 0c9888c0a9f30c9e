"""Django system checks over config.py, so `manage.py check` agrees with the CLI."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from .config.loader import load_config
from .errors import ConfigurationError


@checks.register("tenant_router")
def check_configuration(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """tenant_router.E00x for what load_config() rejects; W001 when queries cannot be routed."""
    try:
        config = load_config()
    except ConfigurationError as exc:
        return [checks.Error(exc.message, hint=exc.hint, id=f"tenant_router.{exc.check_id}")]
    messages: list[checks.CheckMessage] = []
    from .orm_backends.django_orm.manager import DjangoOrmManager

    routers = [
        r if isinstance(r, str) else type(r).__module__ + "." + type(r).__qualname__
        for r in getattr(settings, "DATABASE_ROUTERS", [])
    ]
    django_specs = [s for s in config.orms() if issubclass(s.manager_class, DjangoOrmManager)]
    router_path = "tenant_router.orm_backends.django_orm.router.DjangoOrmRouter"
    if any(DjangoOrmManager.strategy_for(s) for s in django_specs) and router_path not in routers:
        messages.append(
            checks.Warning(
                "DATABASE_ROUTERS does not include DjangoOrmRouter: at run time, models that "
                "MIGRATE_STRATEGY places on a reserved alias are not routed there.",
                hint=f"Add {router_path!r} to DATABASE_ROUTERS (migrations route themselves).",
                id="tenant_router.W001",
            )
        )
    return messages
