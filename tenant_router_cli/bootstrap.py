"""--settings -> django.setup() -> RouterConfig, with every failure as a ConfigurationError."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from tenant_router import REDACTOR, ConfigurationError, RouterConfig, UsageError, load_config


def setup_django(settings: str | None, pythonpath: Sequence[str] = ()) -> str:
    """Import the settings module and start Django once; return the module's name."""
    module = settings or os.environ.get("DJANGO_SETTINGS_MODULE")
    if not module:
        raise UsageError(
            "No Django settings module: pass --settings MODULE or set DJANGO_SETTINGS_MODULE.",
            hint="Pass --settings yourproject.settings, with --pythonpath DIR when the project's folder "
            "is not the current directory.",
        )
    for path in [*reversed(pythonpath), os.getcwd()]:
        path = os.path.abspath(path)
        if path not in sys.path:
            sys.path.insert(0, path)

    from django.conf import settings as django_settings

    if django_settings.configured:
        current = os.environ.get("DJANGO_SETTINGS_MODULE")
        if current and current != module:
            raise ConfigurationError(
                f"Django is already configured with settings {current!r} in this process; "
                f"cannot switch to {module!r}.",
            )
        return module
    os.environ["DJANGO_SETTINGS_MODULE"] = module  # worker processes inherit it
    try:
        importlib.import_module(module)
    except Exception as exc:
        raise ConfigurationError(
            f"Settings module {module!r} cannot be imported: {type(exc).__name__}: {REDACTOR(str(exc))}",
            hint="Check --settings and --pythonpath (the folder that contains the settings package).",
        ) from exc
    import django

    try:
        django.setup()
    except Exception as exc:
        raise ConfigurationError(
            f"Django cannot start with settings {module!r}: {type(exc).__name__}: {REDACTOR(str(exc))}",
        ) from exc
    return module


def bootstrap(settings: str | None, pythonpath: Sequence[str] = ()) -> RouterConfig:
    """Start Django from a settings module and return the validated tenant-router configuration."""
    setup_django(settings, pythonpath)
    return load_config()
