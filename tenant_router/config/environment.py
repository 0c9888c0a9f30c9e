"""tenant-router's environment variables and run-time settings read outside the configuration check."""

from __future__ import annotations

from ..errors import ConfigurationError


def celery_app_path() -> str | None:
    """TENANT_ROUTER_CELERY_APP ("module:attribute" of the project's Celery app): environment, then settings."""
    import os

    from django.conf import settings as django_settings

    value = os.environ.get("TENANT_ROUTER_CELERY_APP") or getattr(
        django_settings, "TENANT_ROUTER_CELERY_APP", None
    )
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(
            f"TENANT_ROUTER_CELERY_APP must be a string 'module:attribute', got {type(value).__name__}."
        )
    return value or None
