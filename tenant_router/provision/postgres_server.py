"""PostgreSQL: CREATE DATABASE (empty or TEMPLATE), publish in one transaction, advisory locks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ..errors import (
    CreateRefusedError,
    DatabaseExistsError,
    ProvisionError,
    TemplateBusyError,
)
from .server_base import CreateOptions, DatabaseInfo, DbApiServer, first_line, lock_digest, polled

#: The first key of the two-key advisory locks of provisioning ("trpv"); the run locks use another.
PG_PROVISION_LOCK_CLASS = 0x74727076


def ident(name: str) -> str:
    """A PostgreSQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A PostgreSQL string literal (an E'' string means the same whatever standard_conforming_strings is)."""
    if "\x00" in text:
        raise ProvisionError("PostgreSQL text cannot hold a NUL character")
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def refusal(exc: BaseException, what: str, name: str) -> ProvisionError:
    """The driver's error as the one provisioning error that says what happened to `name`."""
    state = getattr(exc, "sqlstate", None)
    message = f"{what}: {first_line(exc)}"
    if state == "42P04":
        return DatabaseExistsError(message, hint=f"database {name!r} exists already; nothing was done to it")
    if state == "42501":
        return CreateRefusedError(
            message, denied=True, hint="the role needs CREATEDB (or to own the template)"
        )
    if state == "55006":
        return TemplateBusyError(message, hint="another session is connected to it; try again when it leaves")
    return CreateRefusedError(message, denied=False)


class PostgresServer(DbApiServer):
    """A PostgreSQL server, reached over a connection to its "postgres" database."""

    backend = "postgresql"
    max_name = 63
    name_unit = "bytes"

    def _do(self, sql: str, what: str, name: str) -> None:
        try:
            self.run(sql)
        except ProvisionError:
            raise
        except Exception as exc:
            if not _is_driver_error(exc):
                raise
            raise refusal(exc, what, name) from exc

    def exists(self, name: str) -> bool:
        return self.scalar("SELECT 1 FROM pg_database WHERE datname = %s", (name,)) is not None

    def create(self, name: str, options: CreateOptions, template: str | None = None) -> None:
        self.check_name(name)
        sql = f"CREATE DATABASE {ident(name)}"
        if template is not None:
            sql += f" TEMPLATE {ident(template)}"  # its encoding and collation come with it
        elif options.encoding or options.collation:
            sql += " TEMPLATE template0"  # template1 may hold another encoding or locale
            if options.encoding:
                sql += f" ENCODING {literal(options.encoding)}"
            if options.collation:
                sql += f" LC_COLLATE {literal(options.collation)} LC_CTYPE {literal(options.collation)}"
        if options.owner:
            sql += f" OWNER {ident(options.owner)}"
        source = f" from template {template!r}" if template is not None else ""
        self._do(sql, f"cannot create database {name!r}{source} on {self.label}", name)

    def drop(self, name: str) -> None:
        if not self.usable(name):
            return  # no such database can exist
        self._do(
            f"DROP DATABASE IF EXISTS {ident(name)} WITH (FORCE)",
            f"cannot drop {name!r} on {self.label}",
            name,
        )

    def publish(self, building: str, final: str, comment: str) -> None:
        # One transaction: the renamed database appears with its comment and closed to connections, at once.
        self.check_name(final)
        what = f"cannot publish {building!r} as {final!r} on {self.label}"
        try:
            self._do(
                "BEGIN;"
                f" COMMENT ON DATABASE {ident(building)} IS {literal(comment)};"
                f" ALTER DATABASE {ident(building)} ALLOW_CONNECTIONS false;"
                f" ALTER DATABASE {ident(building)} RENAME TO {ident(final)};"
                " COMMIT",
                what,
                final,
            )
        except ProvisionError:
            with contextlib.suppress(Exception):
                self.run("ROLLBACK")  # the failed statement left the session in the aborted transaction
            raise

    def databases(self, prefix: str, *, sizes: bool = True) -> list[DatabaseInfo]:
        rows = self.run(
            "SELECT datname, CASE WHEN %s AND has_database_privilege(oid, 'CONNECT')"
            " THEN pg_database_size(oid) END, shobj_description(oid, 'pg_database')"
            " FROM pg_database WHERE left(datname, length(%s)) = %s ORDER BY datname",
            (sizes, prefix, prefix),
        )
        return [DatabaseInfo(name, size, comment) for name, size, comment in rows]

    def comment(self, name: str) -> str | None:
        return self.scalar(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        )

    def set_comment(self, name: str, comment: str) -> None:
        self._do(
            f"COMMENT ON DATABASE {ident(name)} IS {literal(comment)}",
            f"cannot comment database {name!r} on {self.label}",
            name,
        )

    @contextlib.contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[None]:
        # A two-key session advisory lock, in the maintenance database every provisioner connects to.
        keys = f"{PG_PROVISION_LOCK_CLASS}, {int(lock_digest(key)[:8], 16) - 2**31}"
        with polled(
            lambda: bool(self.scalar(f"SELECT pg_try_advisory_lock({keys})")),
            lambda: self.scalar(f"SELECT pg_advisory_unlock({keys})"),
            timeout,
            f"lock {key!r} on {self.label}",
        ):
            yield


def _is_driver_error(exc: BaseException) -> bool:
    """A DB-API error of the driver (psycopg's Error, or any driver's: they all have `sqlstate`/`pgcode`)."""
    module = type(exc).__module__
    return module.startswith(("psycopg", "psycopg2")) or hasattr(exc, "sqlstate")
