"""Drift: upgrade an empty scratch database to the revision(s) a tenant database is at."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from ...errors import UnknownStateError
from ...record.orm_report import DatabaseRun, OrmReport
from ...record.report import MigrationReport
from .upgrade import AlembicUpgrade


def scratch_url(url: str, name: str | None, overrides: dict[str, Any]) -> str:
    """`url` naming database `name` (None: the same), with USER/PASSWORD/HOST/PORT overrides applied."""
    parsed = make_url(url)
    fields = {"USER": "username", "PASSWORD": "password", "HOST": "host", "PORT": "port"}
    changes: dict[str, Any] = {
        fields[k]: v for k, v in overrides.items() if k in fields and v not in (None, "")
    }
    if "port" in changes:
        changes["port"] = int(changes["port"])
    if name is not None:
        changes["database"] = name
    return parsed.set(**changes).render_as_string(hide_password=False)


def migrate_scratch(asst: Any, db_config: dict[str, Any], applied: tuple[tuple[str, ...], ...]) -> None:
    """`alembic upgrade <the tenant's revision>` on the empty database `db_config`."""
    heads = [row[0] for row in applied]
    if not heads:
        return  # nothing applied: the expected schema is an empty database
    if len(heads) > 1:
        raise UnknownStateError(f"it is at {len(heads)} heads ({', '.join(sorted(heads))})")
    scripts = copy.copy(asst.scripts)
    scripts.target = heads[0]
    try:
        scripts.script.get_revision(heads[0])
    except Exception as exc:
        raise UnknownStateError(f"revision {heads[0]} is not in the scripts") from exc
    _upgrade(asst, scripts, db_config)


def template_digest(scripts: Any, options: str) -> str:
    """sha256 of every revision file, env.py and the ini file (contents), the versions and the options."""
    import alembic
    import sqlalchemy

    digest = hashlib.sha256(f"{alembic.__version__}|{sqlalchemy.__version__}|{options}".encode())
    files = sorted({Path(rev.path) for rev in scripts.script.walk_revisions()})
    files.append(Path(scripts.script.dir) / "env.py")
    if scripts.ini is not None:
        files.append(Path(scripts.ini))
    for path in files:  # named by where they are in the environment, never by an absolute path
        name = path.relative_to(scripts.script.dir) if path.is_relative_to(scripts.script.dir) else path.name
        digest.update(str(name).encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"(missing)")
    return digest.hexdigest()


def build_template(asst: Any, db_config: dict[str, Any]) -> None:
    """`alembic upgrade` (the assistant's TARGET, heads by default) on the empty database `db_config`."""
    _upgrade(asst, copy.copy(asst.scripts), db_config)


def _upgrade(asst: Any, scripts: Any, db_config: dict[str, Any]) -> None:
    """`alembic upgrade` to `scripts.target` on `db_config`, reported nowhere."""
    engine = asst.sa_manager.create_engine(db_config)
    run = DatabaseRun(OrmReport(MigrationReport(), asst.manager.orm_key), None, None)
    try:
        with engine.connect() as connection:
            AlembicUpgrade(scripts, run)(db_config["URL"], connection)
    finally:
        engine.dispose()
