"""The worker's half of a drift check: one database's bookkeeping rows and real schema, one connection."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..preflight import Inspection, UnreadableError, _query, missing_table, not_a_sqlite_database
from ..report import DbKey, one_line_error
from .schema import Schema, backend_of, fingerprint, read_schema

if TYPE_CHECKING:
    from ..assistants import Assistants


@dataclass(frozen=True, slots=True)
class Probe:
    """What one database holds: its applied migrations (as bookkeeping rows) and its real schema."""

    backend: str  # postgresql, mysql, sqlite
    applied: tuple[tuple[str, ...], ...]  # the bookkeeping rows, sorted: django_migrations (app, name), ...
    inspection: Inspection  # what is pending, as the pre-flight reads it
    schema: Schema
    fingerprint: str


def probe_many(
    units: tuple[DbKey, ...], assistants: Assistants
) -> list[tuple[DbKey, Probe | BaseException | None]]:
    """A Probe per database; None when its ORM cannot read bookkeeping rows; the error when unreachable."""
    from ..tasks import db_config_of

    out: list[tuple[DbKey, Probe | BaseException | None]] = []
    for key in units:
        orm, tenant, alias = key
        assert alias is not None
        asst = assistants.get(orm)
        try:
            read = asst.bookkeeping_read(tenant or "", alias, db_config_of(asst, tenant, alias))
            out.append((key, None if read is None else _probe(read)))
        except Exception as exc:
            out.append((key, exc))
    return out


def _probe(read: Any) -> Probe:
    backend = backend_of(read.identity)
    if backend == "sqlite":
        path = read.identity.removeprefix("sqlite:")
        if problem := not_a_sqlite_database(path):
            raise problem
        if not os.path.exists(path):  # never create a tenant's file: it is an empty database
            return _made(backend, [], read.interpret([]), {})
    conn = read.connect()
    try:
        rows, error = _query(conn, read.sql)
        if error is not None and not missing_table(error):
            raise UnreadableError(f"unreadable: {one_line_error(error)}") from error
        inspection = read.interpret(rows or [])
        return _made(backend, rows or [], inspection, read_schema(conn, backend))
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _made(backend: str, rows: list[tuple[Any, ...]], inspection: Inspection, schema: Schema) -> Probe:
    applied = tuple(sorted(tuple(str(v) for v in row) for row in rows))
    return Probe(backend, applied, inspection, schema, fingerprint(schema))
