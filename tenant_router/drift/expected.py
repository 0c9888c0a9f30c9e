"""Expected schemas: an empty scratch database migrated to a database's applied set, read, dropped.

Built once per (ORM, alias, reserved or not, engine, applied set) and cached for the run. Scratch
databases are created on the server of the first database that needs them, with a unique name
(SQLite: a file in a temporary folder), and dropped afterwards; never a tenant or a template.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ScratchDatabaseError, UnknownStateError
from ..orm_backends.assistants import Assistants
from ..preflight import MAINTENANCE_DATABASES
from ..record.keys import DbKey
from ..record.report import one_line_error
from ..safety.redact import REDACTOR
from .probe import Probe
from .schema import Schema, fingerprint, read_schema
from .scratch import ScratchServer

SETTING = "TENANT_ROUTER_DRIFT_SCRATCH"


@dataclass(frozen=True, slots=True)
class Expected:
    """The schema a database's migrations promise, or why it is unknown."""

    schema: Schema | None
    fingerprint: str | None = None
    error: str | None = None


class ExpectedSchemas:
    """The run's cache of expected schemas."""

    def __init__(
        self, assistants: Assistants, overrides: Mapping[str, Mapping[str, Any]], prefix: str = "tr_drift"
    ) -> None:
        self.assistants, self.overrides, self.prefix = assistants, overrides, prefix
        self._cache: dict[tuple[Any, ...], Expected] = {}
        self._servers_swept: set[str] = set()
        self.swept: list[str] = []  # "<name> on <server>": scratch databases a killed drift left, dropped

    def get(self, key: DbKey, probe: Probe) -> Expected:
        """The expected schema of `key`'s database in the state `probe` found it in."""
        orm, tenant, alias = key
        assert alias is not None
        cache_key = (orm, alias, tenant is None, probe.backend, probe.applied)
        if cache_key not in self._cache:
            self._cache[cache_key] = self._build(key, probe)
        return self._cache[cache_key]

    def _build(self, key: DbKey, probe: Probe) -> Expected:
        orm, tenant, alias = key
        assert alias is not None
        asst = self.assistants.get(orm)
        db_config = self.assistants.db_config(key)
        try:
            with self._scratch(asst, probe.backend, db_config) as scratch:
                asst.migrate_scratch(scratch, alias, tenant is None, probe.applied)
                read = asst.bookkeeping_read("", alias, scratch)
                assert read is not None
                conn = read.connect()
                try:
                    schema = read_schema(conn, probe.backend)
                finally:
                    conn.close()
        except ScratchDatabaseError:
            raise
        except UnknownStateError as exc:
            return Expected(None, error=f"unknown state: {exc}")
        except NotImplementedError as exc:
            return Expected(None, error=f"unknown: {exc}")
        except Exception as exc:
            return Expected(
                None, error=f"unknown: the expected schema could not be built: {one_line_error(exc)}"
            )
        return Expected(schema, fingerprint(schema))

    @contextlib.contextmanager
    def _scratch(self, asst: Any, backend: str, db_config: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if backend == "sqlite":
            folder = tempfile.mkdtemp(prefix="tenant-router-drift-")
            try:
                yield asst.scratch_config(db_config, str(Path(folder) / "scratch.sqlite3"), {})
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            return
        overrides = dict(self.overrides.get(backend, {}))
        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        # The maintenance database: every drift on the server meets there (its locks are per database).
        admin = asst.scratch_config(db_config, MAINTENANCE_DATABASES.get(backend), overrides)
        read = asst.bookkeeping_read("", "default", admin)
        try:
            conn = _autocommit(read.connect())
        except Exception as exc:
            raise ScratchDatabaseError(
                f"drift: cannot connect to {REDACTOR(read.server_name)} to create a scratch database: "
                f"{one_line_error(exc)}.",
                hint=f"Check the role {SETTING} names for {backend!r} (or the tenant's, when it names none).",
            ) from exc
        server = ScratchServer(conn, backend, self.prefix)
        try:
            self._sweep(server, REDACTOR(read.server_name))
            with server.held(name):  # from before it exists until it is gone: never swept while in use
                _create(conn, backend, name, read.server_name, overrides)
                try:
                    yield asst.scratch_config(db_config, name, overrides)
                finally:
                    _drop(conn, backend, name)
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _sweep(self, server: ScratchServer, label: str) -> None:
        """Once a run per server: drop the scratch databases killed drift runs left there."""
        if label in self._servers_swept:
            return
        self._servers_swept.add(label)
        with contextlib.suppress(Exception):  # reading or dropping them is a courtesy, not the run's work
            self.swept += [
                f"{n} on {label}" for n in server.sweep(lambda n: _drop(server.conn, server.backend, n))
            ]


def _autocommit(conn: Any) -> Any:
    if callable(getattr(type(conn), "autocommit", None)):
        conn.autocommit(True)  # MySQLdb, PyMySQL
    else:
        conn.autocommit = True  # psycopg
    return conn


def _quoted(backend: str, name: str) -> str:
    return f"`{name}`" if backend == "mysql" else f'"{name}"'


def _create(conn: Any, backend: str, name: str, server_name: str, overrides: Mapping[str, Any]) -> None:
    try:
        conn.cursor().execute(f"CREATE DATABASE {_quoted(backend, name)}")
    except Exception as exc:
        server = REDACTOR(server_name)  # as configured: 127.0.0.1 stays 127.0.0.1
        denied = _denied(exc)
        why = "lacks the right to create databases (CREATEDB)" if denied else one_line_error(exc)
        raise ScratchDatabaseError(
            f"drift: cannot create a scratch database on {server} to build the expected schema: "
            + (f"the role {why}." if denied else f"{why}."),
            hint=f"Grant it CREATEDB, or set {SETTING} = {{{backend!r}: {{'USER': ..., 'PASSWORD': ...}}}} "
            "to a role that may create databases (used for scratch databases only).",
        ) from exc


def _denied(exc: BaseException) -> bool:
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if sqlstate is not None:
        return bool(sqlstate == "42501")  # insufficient_privilege
    return bool(exc.args and exc.args[0] in (1044, 1045, 1227))  # MySQL access denied


def _drop(conn: Any, backend: str, name: str) -> None:
    statements = [f"DROP DATABASE IF EXISTS {_quoted(backend, name)}"]
    if backend == "postgresql":  # sessions a migration left open must not keep it alive
        statements.insert(0, f"{statements[0]} WITH (FORCE)")
    for sql in statements:
        try:
            conn.cursor().execute(sql)
            return
        except Exception:
            continue
