"""Django system checks over config.py, so `manage.py check` agrees with the CLI."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from .config import load_config
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
    uses_django = any(issubclass(s.manager_class, DjangoOrmManager) for s in config.orms())
    router_path = "tenant_router.orm_backends.django_orm.router.DjangoOrmRouter"
    if uses_django and router_path not in routers:
        messages.append(
            checks.Warning(
                "DATABASE_ROUTERS does not include DjangoOrmRouter: queries inside "
                "tenant_context_bind() will not reach the tenant's database.",
                hint=f"Add {router_path!r} to DATABASE_ROUTERS (migrations route themselves).",
                id="tenant_router.W001",
            )
        )
    return messages
