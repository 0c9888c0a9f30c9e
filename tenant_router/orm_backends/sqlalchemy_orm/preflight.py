"""Pre-flight for Alembic: `alembic_version` read over one raw driver connection, compared with the scripts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from sqlalchemy.engine import Dialect, make_url

from ...preflight import BookkeepingRead, Inspection, database_identity, server_label
from .scripts import AlembicScripts, revision_id, steps_to


@cache
def _dialect(drivername: str) -> Dialect:
    """One dialect object per driver: it knows how to turn a URL into the driver's connect()."""
    dialect_cls = make_url(f"{drivername}://").get_dialect()
    return dialect_cls(dbapi=dialect_cls.import_dbapi())  # type: ignore[call-arg]


def raw_connector(url_text: str) -> tuple[Callable[[], Any], str, str]:
    """(open a raw DB-API connection, the database identity, its server as configured) for a
    SQLAlchemy URL, no engine."""
    url = make_url(url_text)
    dialect = _dialect(url.drivername)
    cargs, cparams = dialect.create_connect_args(url)
    identity = database_identity(url.get_backend_name(), url.host, url.port, url.database or "", url.username)
    server = server_label(url.get_backend_name(), url.host, url.port, url.username)
    return (lambda: dialect.connect(*cargs, **cparams)), identity, server


def bookkeeping_read(scripts: AlembicScripts, url_text: str, version_table: str) -> BookkeepingRead:
    """Read the version table and work out the revisions `alembic upgrade` would apply."""
    connect, identity, server = raw_connector(url_text)

    def interpret(rows: Sequence[tuple[Any, ...]]) -> Inspection:
        heads = tuple(str(row[0]) for row in rows)
        current = ", ".join(heads) or None
        try:
            steps = steps_to(scripts.script, scripts.target, heads)
        except Exception:  # a revision the scripts do not know: let the upgrade say so
            return Inspection(("(unknown)",), current)
        return Inspection(tuple(revision_id(step) for step in steps), current)

    sql = f"SELECT version_num FROM {version_table}"
    return BookkeepingRead(identity, connect, sql, interpret, server=server)
