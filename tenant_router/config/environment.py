"""tenant-router's environment variables and run-time settings read outside the configuration check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigurationError

JOURNAL_DIR = "TENANT_ROUTER_JOURNAL_DIR"
ALLOW_TEMPLATE_ACCESS = "TENANT_ROUTER_ALLOW_TEMPLATE_ACCESS"


def journal_dir(explicit: str | Path | None = None, settings: Any = None) -> Path:
    """--journal, else TENANT_ROUTER_JOURNAL_DIR, else BASE_DIR/.tenant-router/journal, else ./.tenant-router/journal."""
    if explicit is not None:
        return Path(explicit)
    if settings is None:
        from django.conf import settings as django_settings

        settings = django_settings
    configured = getattr(settings, JOURNAL_DIR, None)
    if configured:
        return Path(configured)
    base = getattr(settings, "BASE_DIR", None)
    return Path(base or ".") / ".tenant-router" / "journal"


def template_access_allowed() -> bool:
    """TENANT_ROUTER_ALLOW_TEMPLATE_ACCESS: True lets code reach a template alias's own database."""
    from django.conf import settings

    return bool(getattr(settings, ALLOW_TEMPLATE_ACCESS, False))


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
