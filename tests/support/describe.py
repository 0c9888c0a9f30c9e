"""What a database holds, so that two databases can be compared; two views of it.

describe(url), the whole of one database, equal for equal databases (the corpus and Celery tests):

Schema from SQLAlchemy's inspector (columns with type, nullability, default, identity; primary keys;
indexes; unique, check and foreign-key constraints, names included) plus each engine's own catalogue,
read once: SQLite's `sqlite_master` text, PostgreSQL's index and constraint definitions and sequence
positions, MariaDB's `SHOW CREATE TABLE` (which carries AUTO_INCREMENT, the next id). Data: every row of
every table, ids included, less the VOLATILE columns. Both are compared within one engine only, so no
value is normalised across engines.

schema(url) and django_rows(url), the coarse view (the parity, rollback and SQLAlchemy tests): tables with
their columns, keys and indexes from the inspector, and Django's bookkeeping rows without ids, so that
databases migrated by different routes (in-process or not, one engine or another) compare equal.
differences(a, b) says where two descriptions differ.
"""

from __future__ import annotations

import datetime
import decimal
import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

# Columns whose values differ between two runs of the oracle itself on equal databases, and why.
VOLATILE: dict[tuple[str, str], str] = {
    ("django_migrations", "applied"): "the clock when each migration was applied",
    ("wagtailcore_page", "translation_key"): "wagtailcore 0056 gives each existing page a fresh uuid4()",
}


def describe(url: str) -> dict[str, Any]:
    """Schema, catalogue text, bookkeeping and rows of the database at `url` (a SQLAlchemy URL)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            tables = sorted(insp.get_table_names())
            return {
                "tables": _tables(insp, tables),
                "catalogue": _catalogue(conn, tables),
                "bookkeeping": _bookkeeping(conn, tables),
                "rows": {t: _rows(conn, t, insp) for t in tables},
            }
    finally:
        engine.dispose()


def _tables(insp: Any, tables: list[str]) -> dict[str, Any]:
    def multi(method: str) -> dict[str, Any]:
        return {key[1]: value for key, value in getattr(insp, method)().items()}

    columns, pks, indexes = (
        multi("get_multi_columns"),
        multi("get_multi_pk_constraint"),
        multi("get_multi_indexes"),
    )
    uniques, checks, fks = (
        multi("get_multi_unique_constraints"),
        multi("get_multi_check_constraints"),
        multi("get_multi_foreign_keys"),
    )
    options = multi("get_multi_table_options")
    return {
        t: {
            "columns": [_column(c) for c in columns.get(t, [])],
            "pk": (pks.get(t, {}).get("name"), tuple(pks.get(t, {}).get("constrained_columns") or ())),
            "indexes": sorted((_canon(i) for i in indexes.get(t, [])), key=repr),
            "unique": sorted((_canon(u) for u in uniques.get(t, [])), key=repr),
            "checks": sorted((_canon(c) for c in checks.get(t, [])), key=repr),
            "fks": sorted((_canon(f) for f in fks.get(t, [])), key=repr),
            "options": _canon(options.get(t, {})),
        }
        for t in tables
    }


def _column(c: dict[str, Any]) -> tuple[Any, ...]:
    return (
        c["name"],
        str(c["type"]),
        c["nullable"],
        c.get("default"),
        _canon(c.get("identity")),
        _canon(c.get("computed")),
        c.get("comment"),
    )


def _catalogue(conn: sa.Connection, tables: list[str]) -> dict[str, Any]:
    """Each engine's own text of its schema (what the inspector may leave out)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        rows = conn.execute(sa.text("SELECT type, name, tbl_name, sql FROM sqlite_master")).all()
        return {"sqlite_master": sorted(((t, n, tbl, _sqlite_sql(sql)) for t, n, tbl, sql in rows), key=repr)}
    if dialect == "postgresql":
        return {
            "indexes": _all(
                conn, "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname='public'"
            ),
            "constraints": _all(
                conn,
                "SELECT cl.relname, co.conname, co.contype, pg_get_constraintdef(co.oid) FROM pg_constraint co "
                "JOIN pg_class cl ON cl.oid = co.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace "
                "WHERE n.nspname = 'public'",
            ),
            "enums": _all(
                conn,
                "SELECT t.typname, e.enumsortorder, e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid",
            ),
            "sequences": _all(
                conn,
                "SELECT sequencename, data_type::text, last_value FROM pg_sequences WHERE schemaname='public'",
            ),
            "columns": _all(
                conn,
                "SELECT table_name, column_name, ordinal_position, data_type, udt_name, character_maximum_length, "
                "numeric_precision, numeric_scale, is_nullable, column_default, is_identity, identity_generation "
                "FROM information_schema.columns WHERE table_schema='public'",
            ),
        }
    return {t: conn.execute(sa.text(f"SHOW CREATE TABLE `{t}`")).one()[1] for t in tables}


_CONSTRAINT_CLAUSE = ("PRIMARY KEY", "UNIQUE", "FOREIGN KEY", "CHECK", "CONSTRAINT")


def _sqlite_sql(sql: str | None) -> str | None:
    """A CREATE TABLE text with its table constraints in sorted order, columns left as they are.

    Alembic's batch mode (optuna's env.py uses render_as_batch) writes a rebuilt table's constraints in
    the order of a Python set, which changes from one process to the next: two runs of the oracle give
    the same constraints in different orders.
    """
    if not sql or not sql.startswith("CREATE TABLE") or "(" not in sql:
        return sql
    head, body = sql[: sql.index("(")], sql[sql.index("(") + 1 : sql.rindex(")")]
    clauses = [c.strip() for c in _split_top_level(body)]
    columns = [c for c in clauses if not c.upper().startswith(_CONSTRAINT_CLAUSE)]
    constraints = sorted(c for c in clauses if c.upper().startswith(_CONSTRAINT_CLAUSE))
    return f"{head.strip()} ({', '.join(columns + constraints)})"


def _split_top_level(body: str) -> list[str]:
    """`body` cut at the commas outside parentheses and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(body):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'`[":
            quote = "]" if ch == "[" else ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return parts


def _bookkeeping(conn: sa.Connection, tables: list[str]) -> dict[str, Any]:
    """The same facts as the rows, keyed by meaning rather than by id: what a reader looks at first."""
    out: dict[str, Any] = {}
    if "django_migrations" in tables:
        out["django_migrations"] = _all(conn, "SELECT app, name FROM django_migrations")
    if "alembic_version" in tables:
        out["alembic_version"] = _all(conn, "SELECT version_num FROM alembic_version")
    if "django_content_type" in tables:
        out["content_types"] = _all(conn, "SELECT app_label, model FROM django_content_type")
    if {"auth_permission", "django_content_type"} <= set(tables):
        out["permissions"] = _all(
            conn,
            "SELECT ct.app_label, ct.model, p.codename, p.name FROM auth_permission p "
            "JOIN django_content_type ct ON ct.id = p.content_type_id",
        )
    return out


def _rows(conn: sa.Connection, table: str, insp: Any) -> dict[str, Any]:
    names = [c["name"] for c in insp.get_columns(table)]
    kept = [n for n in names if (table, n) not in VOLATILE]
    if not kept:
        return {"columns": [], "rows": []}
    quote = conn.dialect.identifier_preparer.quote
    sql = f"SELECT {', '.join(quote(n) for n in kept)} FROM {quote(table)}"
    return {
        "columns": kept,
        "rows": sorted((tuple(_value(v) for v in r) for r in conn.execute(sa.text(sql))), key=repr),
    }


def _all(conn: sa.Connection, sql: str) -> list[tuple[Any, ...]]:
    return sorted((tuple(_value(v) for v in r) for r in conn.execute(sa.text(sql))), key=repr)


def _value(v: Any) -> Any:
    """A comparable, printable form of one value as the driver returned it."""
    if isinstance(v, memoryview | bytes | bytearray):
        return "0x" + bytes(v).hex()
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True, default=str)
    if isinstance(v, datetime.date | datetime.time | datetime.timedelta | decimal.Decimal):
        return repr(v)
    return v


def _canon(value: Any) -> Any:
    """Dicts and lists (inspector output) as sorted tuples: hashable, orderable, order-insensitive keys."""
    if isinstance(value, dict):
        return tuple(sorted(((k, _canon(v)) for k, v in value.items()), key=repr))
    if isinstance(value, list | tuple):
        return tuple(_canon(v) for v in value)
    if isinstance(value, sa.sql.ClauseElement):
        return str(value)
    return value


def url_for(entry: dict[str, Any]) -> str:
    """A SQLAlchemy URL for a Django DATABASES entry."""
    engine = entry["ENGINE"]
    if "sqlite" in engine:
        return f"sqlite:///{entry['NAME']}"
    scheme = "postgresql+psycopg" if "postgres" in engine else "mysql+mysqldb"
    url = sa.engine.URL.create(
        scheme,
        username=entry.get("USER") or None,
        password=entry.get("PASSWORD") or None,
        host=entry.get("HOST") or None,
        port=int(entry["PORT"]) if entry.get("PORT") else None,
        database=entry["NAME"],
    )
    return url.render_as_string(hide_password=False)


def schema(url: str) -> dict[str, Any]:
    """Tables with their columns, primary key, indexes, unique constraints and foreign keys."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        insp = sa.inspect(engine)
        out: dict[str, Any] = {}
        for table in sorted(insp.get_table_names()):
            out[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
                "pk": insp.get_pk_constraint(table).get("constrained_columns"),
                "indexes": sorted(
                    (tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(table)
                ),
                "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
                "fks": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                    for f in insp.get_foreign_keys(table)
                ),
            }
        return out
    finally:
        engine.dispose()


def django_rows(url: str) -> dict[str, Any]:
    """django_migrations (app, name), content types and permissions, id-free."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            rows: dict[str, Any] = {
                "migrations": sorted(conn.execute(sa.text("SELECT app, name FROM django_migrations")).all())
            }
            if "django_content_type" in tables:
                rows["content_types"] = sorted(
                    conn.execute(sa.text("SELECT app_label, model FROM django_content_type")).all()
                )
            if "auth_permission" in tables:
                rows["permissions"] = sorted(
                    conn.execute(
                        sa.text(
                            "SELECT ct.app_label, ct.model, p.codename, p.name FROM auth_permission p "
                            "JOIN django_content_type ct ON ct.id = p.content_type_id"
                        )
                    ).all()
                )
            if "legacy_note" in tables:  # what the test app's data migrations wrote
                rows["legacy_notes"] = sorted(conn.execute(sa.text("SELECT text FROM legacy_note")).all())
            return {k: [tuple(r) for r in v] for k, v in rows.items()}
    finally:
        engine.dispose()


def differences(ours: Any, theirs: Any, limit: int = 12) -> str:
    """Where two descriptions differ, one line each (at most `limit` lines); '' when they are equal."""
    found: list[str] = []
    _diff(ours, theirs, "", found)
    more = [f"... and {len(found) - limit} more"] if len(found) > limit else []
    return "\n".join(found[:limit] + more)


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in b:
                out.append(f"{where}: only in the first")
            elif key not in a:
                out.append(f"{where}: only in the second")
            else:
                _diff(a[key], b[key], where, out)
        return
    if isinstance(a, list) and isinstance(b, list):
        extra, missing = _minus(a, b), _minus(b, a)
        if extra or missing:
            out.append(f"{path}: only in the first {_short(extra)}; only in the second {_short(missing)}")
        else:
            out.append(f"{path}: same items in another order")
        return
    out.append(f"{path}: {_short([a])} != {_short([b])}")


def _minus(a: Iterable[Any], b: Iterable[Any]) -> list[Any]:
    rest = list(b)
    out = []
    for item in a:
        if item in rest:
            rest.remove(item)
        else:
            out.append(item)
    return out


def _short(items: list[Any], count: int = 3) -> str:
    text = ", ".join(repr(i)[:200] for i in items[:count])
    return f"[{text}{', ...' if len(items) > count else ''}] ({len(items)})"
