"""Assistants registered by tests through TENANT_ROUTER_ORM_SETTINGS."""

import json
from pathlib import Path

from tenant_router.orm_backends.base import BaseOrmMigrationAsst


class CustomMigrationAsst(BaseOrmMigrationAsst):
    """The seed's example, verbatim in shape: only perform_migrate()."""

    def perform_migrate(self):
        # Called by the 'manager' class internally when 'migrate_to_all' is called.
        Path(self.options["marker"]).write_text(
            json.dumps({"options": self.options, "tenants": self.manager.tenant_ids()})
        )


class FailingMigrationAsst(BaseOrmMigrationAsst):
    def perform_migrate(self):
        raise RuntimeError("custom assistant exploded")


class PerTenantAsst(BaseOrmMigrationAsst):
    """Written per tenant: gets a row per tenant and failure isolation for free."""

    def migrate_tenant(self, tenant):
        if tenant == "tenant-2":
            raise ValueError(f"cannot migrate {tenant}")
        Path(self.options["folder"], tenant).write_text("done")


def broken_source():
    raise OSError("tenant service down")


def tenants_from_code():
    return {
        "tenant_config": {
            "code-1": {"clinic": {"orm_config": {"django_orm": {"default": {"NAME": ":memory:"}}}}}
        }
    }
