"""tenant-router's environment variables and run-time settings read outside the configuration check."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, UsageError

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
    from django.conf import settings as django_settings

    value = os.environ.get("TENANT_ROUTER_CELERY_APP") or getattr(
        django_settings, "TENANT_ROUTER_CELERY_APP", None
    )
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(
            f"TENANT_ROUTER_CELERY_APP must be a string 'module:attribute', got {type(value).__name__}."
        )
    return value or None


def celery_lost_after(default: float = 30.0) -> float:
    """TENANT_ROUTER_CELERY_LOST_AFTER: seconds without a heartbeat after which a worker counts as lost."""
    return _seconds("TENANT_ROUTER_CELERY_LOST_AFTER", default)


def celery_broker_outage(default: float = 60.0) -> float:
    """TENANT_ROUTER_CELERY_BROKER_OUTAGE: seconds a run waits for a broker it lost to come back before
    it gives up (environment, then settings)."""
    from django.conf import settings as django_settings

    name = "TENANT_ROUTER_CELERY_BROKER_OUTAGE"
    value = os.environ.get(name, getattr(django_settings, name, default))
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise UsageError(f"{name} must be a number of seconds, 0 or more, got {value!r}.")
    return seconds


def celery_bundle(default: int) -> int:
    """TENANT_ROUTER_CELERY_BUNDLE: at most this many pending databases travel in one Celery task."""
    return _count("TENANT_ROUTER_CELERY_BUNDLE", default)


def _seconds(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise UsageError(f"{name} must be a number of seconds, got {os.environ[name]!r}.") from None


def _count(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"{name} must be a whole number, 1 or more, got {value!r}.")
    return int(value)


def template_prefix() -> str:
    """TENANT_ROUTER_TEMPLATE_PREFIX: how the names of template databases begin ("tr_tpl")."""
    from django.conf import settings

    value = getattr(settings, "TENANT_ROUTER_TEMPLATE_PREFIX", None) or "tr_tpl"
    if not isinstance(value, str) or not value.replace("_", "").isalnum() or len(value) > 20:
        raise ConfigurationError(
            f"TENANT_ROUTER_TEMPLATE_PREFIX must be up to 20 letters, digits and underscores, got {value!r}."
        )
    return value
