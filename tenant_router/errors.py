"""The one exception hierarchy: every failure the library raises on purpose."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class TenantRouterError(Exception):
    """Base for every failure the library raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint

    def __str__(self) -> str:
        return self.message


class ConfigurationError(TenantRouterError, ImproperlyConfigured):
    """TENANT_ROUTER_* settings or the tenant configuration are missing, malformed or unusable.

    `check_id` is the Django system check id (``tenant_router.E001`` ...) reporting the same problem.
    """

    def __init__(self, message: str, *, hint: str | None = None, check_id: str = "E001") -> None:
        super().__init__(message, hint=hint)
        self.check_id = check_id


class UsageError(TenantRouterError):
    """The call itself is wrong (missing settings module, bad option value); nothing was touched."""


class SelectionError(UsageError):
    """The ORM keys or tenant ids asked for do not exist (a usage problem, nothing was touched)."""


class TenantMigrationError(TenantRouterError):
    """At least one tenant did not reach its target; the message names each one and why."""

    def __init__(self, message: str, *, failures: list[str], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.failures = failures


class DatabaseLocked(TenantRouterError):
    """Another run holds this database's run lock; nothing was done to it."""


class ExecutorError(TenantRouterError):
    """The executor cannot carry the run out: no worker consumes its queue, the broker went away, or the
    workers run other code. Databases already settled keep their outcome; the rest were not started."""


class DatabaseBusy(TenantRouterError):
    """A step gave up waiting for a lock (--lock-wait) and left the database at a migration boundary."""


class StepLimitError(TenantRouterError):
    """A step exceeded --statement-timeout, or a lock wait left it partly applied: not retried."""


class ScratchDatabaseError(ConfigurationError):
    """`drift` could not create the scratch database it builds expected schemas in (no CREATEDB, ...)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, check_id="E001")


class UnknownStateError(TenantRouterError):
    """A database's applied migrations lead nowhere a plan can reach: its expected schema is unknown."""


class ProvisionError(TenantRouterError):
    """A tenant database could not be created, copied or published; the message names it and the server."""


class DatabaseExistsError(ProvisionError):
    """The database name is taken: nothing was done to the database that has it."""


class CreateRefusedError(ProvisionError):
    """The server (or the file system, for SQLite) refused to create the database.

    `denied` is True when it is a matter of rights (a role without CREATEDB, access denied, a folder that is
    not writable), False for any other refusal (a bad encoding, a missing template or folder, ...).
    """

    def __init__(self, message: str, *, denied: bool, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.denied = denied


class TemplateBusyError(ProvisionError):
    """PostgreSQL: someone else is connected to the database being copied or published (SQLSTATE 55006)."""


class NotCopyableError(ProvisionError):
    """MariaDB: the template holds more than tables (views, triggers, routines, events, sequences): migrate
    instead."""
