"""Add "tenant_router" to INSTALLED_APPS to get its system checks in `manage.py check`."""

from __future__ import annotations

from django.apps import AppConfig


class TenantRouterConfig(AppConfig):
    """Registers tenant_router's system checks."""

    name = "tenant_router"
    verbose_name = "Tenant router"

    def ready(self) -> None:
        """Connect the checks; from now on template aliases mean the bound tenant's databases."""
        from . import checks  # noqa: F401
        from .orm_backends.django_orm.binding import install

        install()
