"""Database snapshots for comparing two databases: schema (via SQLAlchemy's inspector) and Django's rows."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


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
