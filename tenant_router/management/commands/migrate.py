"""`manage.py migrate`, refusing tenant templates: it would migrate the template database itself."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import DEFAULT_DB_ALIAS

from ...config.environment import ALLOW_TEMPLATE_ACCESS, template_access_allowed
from ...orm_backends.django_orm.binding import is_template_alias


class Command(DjangoMigrate):
    """Django's migrate for reserved aliases; a template alias is refused with a pointer to tenant-router."""

    def execute(self, *args: Any, **options: Any) -> Any:
        """Refuse before the system checks run (they would connect to the database)."""
        alias = options.get("database") or DEFAULT_DB_ALIAS
        if is_template_alias(alias) and not template_access_allowed():
            raise CommandError(
                f"DATABASES[{alias!r}] is a tenant-router template: `manage.py migrate` would migrate the "
                "template database, not the tenants. Run `tenant-router migrate --settings "
                f"{settings.SETTINGS_MODULE}` (or `manage.py migrate --database <reserved alias>`); set "
                f"{ALLOW_TEMPLATE_ACCESS} = True to migrate the template anyway."
            )
        return super().execute(*args, **options)
