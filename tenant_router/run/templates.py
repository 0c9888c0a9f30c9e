"""`tenant-router templates`: the template databases on the selected tenants' servers, current or stale,
and (with prune) the stale ones dropped."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..config.environment import template_prefix
from ..config.model import RouterConfig
from ..executors import ExecutorSpec
from ..preflight import MAINTENANCE_DATABASES
from ..provision.missing import Creations, MissingDatabase
from ..provision.servers import Server
from ..provision.templates import TemplateInfo, Templates, copied_from
from ..record.report import one_line_error
from ..safety.redact import REDACTOR
from .fleet import reading_fleet
from .requests import Selection


@dataclass(frozen=True)
class TemplateRow:
    """One template database on one server."""

    server: str  # postgresql://role@host:5432, never a password
    name: str
    state: str  # "current" (new tenants are copied from it), "stale", "building" (no description yet)
    built: str | None
    size: int | None  # bytes
    made: int  # tenant databases created as a copy of it (that still exist)
    dropped: bool = False


@dataclass(frozen=True)
class TemplateInventory:
    """Every template found, per server in the order the tenants name them, and the servers that could
    not be read (one line each)."""

    rows: list[TemplateRow]
    unreadable: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"templates": [asdict(row) for row in self.rows], "unreadable": self.unreadable}


def read_templates(config: RouterConfig | None, selection: Selection, *, prune: bool) -> TemplateInventory:
    """List the templates on the selected tenants' servers; with `prune`, drop the stale ones (never a
    database without this tool's description, never one being built)."""
    prefix = template_prefix()
    rows: list[TemplateRow] = []
    unreadable: dict[str, str] = {}  # server -> why
    with reading_fleet(config, selection, ExecutorSpec()) as fleet:
        creations = Creations(fleet.assistants, fleet.report)
        templates = Templates(fleet.assistants, prefix)
        current: dict[str, set[str]] = {}
        first: dict[str, MissingDatabase] = {}  # server -> a database to reach it by
        keys = [key for key in fleet.keys if key.tenant is not None and key.alias is not None]
        shapes: set[tuple[str, tuple[tuple[str, str | None], ...]]] = set()
        for database in creations.group(keys):
            shape = (database.server_label, tuple((k.orm, k.alias) for k in database.keys))
            if database.backend not in (*MAINTENANCE_DATABASES, "sqlite") or shape in shapes:
                continue
            shapes.add(shape)
            if database.server_label in unreadable:
                continue
            try:
                with creations.server(database) as server:
                    first.setdefault(server.label, database)
                    digest = templates.digest(database.keys, server, creations.options(database))
            except Exception as exc:
                unreadable[database.server_label] = one_line_error(exc)
                continue
            if digest is not None:
                current.setdefault(server.label, set()).add(digest)
        for label, database in first.items():
            try:
                with creations.server(database) as server:
                    rows += _inventory(server, prefix, current.get(label, set()), prune=prune)
            except Exception as exc:
                unreadable[label] = one_line_error(exc)
    return TemplateInventory(rows, [f"{REDACTOR(server)}: {why}" for server, why in unreadable.items()])


def _inventory(server: Server, prefix: str, current: set[str], *, prune: bool) -> list[TemplateRow]:
    comments = [db.comment for db in server.databases("", sizes=False)]  # what each was copied from
    rows = []
    for db in server.databases(f"{prefix}_"):
        info = TemplateInfo.from_comment(db.comment)
        if info is None:
            rows.append(TemplateRow(server.label, db.name, "building", None, db.size, 0))
            continue
        state = "current" if info.digest in current else "stale"
        made = comments.count(copied_from(db.name))
        dropped = prune and state == "stale"
        if dropped:
            server.drop(db.name)
        rows.append(TemplateRow(server.label, db.name, state, info.built, db.size, made, dropped))
    return rows
