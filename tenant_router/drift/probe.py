"""The worker's half of a drift check: bookkeeping rows and real schema, one connection per database.

A tenant whose Django and Alembic tables share one physical database is read once: one connection,
each ORM's bookkeeping query, one schema read.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

from ..orm_backends.assistants import Assistants
from ..preflight import (
    BookkeepingRead,
    Inspection,
    UnreadableError,
    _query,
    missing_table,
    not_a_sqlite_database,
)
from ..record.keys import DbKey
from ..record.report import one_line_error
from .schema import Schema, backend_of, fingerprint, read_schema


@dataclass(frozen=True, slots=True)
class Probe:
    """What one database holds: its applied migrations (as bookkeeping rows) and its real schema."""

    backend: str  # postgresql, mysql, sqlite
    applied: tuple[tuple[str, ...], ...]  # the bookkeeping rows, sorted: django_migrations (app, name), ...
    inspection: Inspection  # what is pending, as the pre-flight reads it
    schema: Schema
    fingerprint: str
    identity: str = ""  # the physical database (several ORMs' databases may be one)


Found = Probe | BaseException | None


def probe_many(units: tuple[DbKey, ...], assistants: Assistants) -> list[tuple[DbKey, Found]]:
    """A Probe per database; None when its ORM cannot read bookkeeping rows; the error when unreachable."""
    found: dict[DbKey, Found] = {}
    shared: dict[str, list[tuple[DbKey, BookkeepingRead]]] = {}
    for key in units:
        orm, tenant, alias = key
        assert alias is not None
        asst = assistants.get(orm)
        try:
            read = asst.bookkeeping_read(tenant or "", alias, assistants.db_config(key))
        except Exception as exc:
            found[key] = exc
            continue
        if read is None:
            found[key] = None
        else:
            shared.setdefault(read.identity, []).append((key, read))
    seen: dict[str, Schema] = {}  # equal schemas as one object: the task's reply pickles each once
    for identity, group in shared.items():
        try:
            probes = _probe(identity, [r for _, r in group])
        except Exception as exc:
            found.update((key, exc) for key, _ in group)
            continue
        for (key, _), probe in zip(group, probes, strict=True):
            schema = seen.setdefault(probe.fingerprint, probe.schema)
            found[key] = Probe(
                probe.backend, probe.applied, probe.inspection, schema, probe.fingerprint, identity
            )
    return [(key, found[key]) for key in units]


def _probe(identity: str, reads: list[BookkeepingRead]) -> list[Probe]:
    backend = backend_of(identity)
    if backend == "sqlite":
        path = identity.removeprefix("sqlite:")
        if problem := not_a_sqlite_database(path):
            raise problem
        if not os.path.exists(path):  # never create a tenant's file: it is an empty database
            return [_made(backend, [], read.interpret([]), {}) for read in reads]
    conn = reads[0].connect()
    try:
        rows_of = []
        for read in reads:
            rows, error = _query(conn, read.sql)
            if error is not None and not missing_table(error):
                raise UnreadableError(f"unreadable: {one_line_error(error)}") from error
            rows_of.append(rows or [])
        schema = read_schema(conn, backend)
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    digest = fingerprint(schema)
    return [
        Probe(backend, _applied(rows), read.interpret(rows), schema, digest)
        for read, rows in zip(reads, rows_of, strict=True)
    ]


def _applied(rows: list[tuple[Any, ...]]) -> tuple[tuple[str, ...], ...]:
    return tuple(sorted(tuple(str(v) for v in row) for row in rows))


def _made(backend: str, rows: list[tuple[Any, ...]], inspection: Inspection, schema: Schema) -> Probe:
    return Probe(backend, _applied(rows), inspection, schema, fingerprint(schema))
