"""Exit codes: the CLI's only contract with deployment scripts."""

from __future__ import annotations

from enum import IntEnum

from tenant_router import ConfigurationError, ExecutorError, TenantRouterError, UsageError


class ExitCode(IntEnum):
    """Documented in the README and in `tenant-router --help`."""

    OK = 0  # every selected database migrated or already up to date
    FAILED = 1  # a database failed, stayed busy or ended unknown (or was not started because of a failure)
    USAGE = 2  # bad options, unknown --orm/--tenant, no settings module
    CONFIG = 3  # settings not importable, invalid TENANT_ROUTER_* settings, unreadable tenant config
    PENDING = 4  # `migrate --check`: something is pending
    LOCKED = 5  # the only databases not migrated were locked by another run
    DRIFT = 6  # `drift` found drift; `migrate --refuse-drift` left drifted databases alone
    EXECUTOR = 7  # the executor could not carry the run out (no Celery worker, broker gone, other code)
    MISSING = 8  # the only databases not brought to head (or read) do not exist on their server
    INTERNAL = 70  # a bug: the traceback is printed (passwords masked)
    INTERRUPTED = 130  # Ctrl-C


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 at least one tenant database failed, stayed busy or ended unknown; 2 usage error; "
    "3 configuration error (nothing touched); 4 pending (--check); 5 locked by another run; "
    "6 schema drift (drift; migrate --refuse-drift left drifted databases alone); "
    "7 executor unavailable (no Celery worker, broker gone, workers on other code); "
    "8 a tenant database does not exist (and nothing else failed); "
    "70 internal error; 130 interrupted."
)


def exit_code_for(exc: TenantRouterError) -> ExitCode:
    """The exit code of an error the library raised on purpose."""
    error = getattr(exc, "error", None)  # RunAborted: the code of what stopped the run
    if isinstance(error, TenantRouterError):
        return exit_code_for(error)
    if isinstance(exc, UsageError):
        return ExitCode.USAGE
    if isinstance(exc, ConfigurationError):
        return ExitCode.CONFIG
    if isinstance(exc, ExecutorError):
        return ExitCode.EXECUTOR
    return ExitCode.FAILED
