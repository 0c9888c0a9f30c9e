"""Tenant databases that do not exist: created empty on their server (with the tenant's own connection
settings) so the run migrates them; dropped again when their migration does not complete.

A database is created once however many (ORM, alias) pairs of the tenant name it (Django and Alembic tables
side by side); one that exists by the time it is created (another run made it) is left to the run lock.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import CreateRefusedError, DatabaseExistsError, ProvisionError
from ..orm_backends.assistants import Assistants
from ..preflight import MAINTENANCE_DATABASES
from ..record.events import Status, TenantFailed, TenantFinished, TenantNoted, TenantSkipped
from ..record.keys import DbKey
from ..record.report import MigrationReport, one_line_error
from .servers import CreateOptions, Server, open_server, sqlite_files
from .templates import Templates

COMPLETE = frozenset({Status.MIGRATED, Status.UP_TO_DATE, Status.CREATED})
DROPPED = "the new database was dropped again (it was new: nothing was lost)"
#: The comment a database carries from its creation until its migration completed: a run killed in
#: between leaves it, and the next create finishes (or drops) that database.
UNFINISHED = "tenant-router: being created; the next `tenant-router create` finishes it"


@dataclass
class MissingDatabase:
    """One physical database that does not exist, and the run's databases that name it."""

    identity: str  # postgresql://role@host:5432/name
    keys: list[DbKey] = field(default_factory=list)
    server: str = ""  # its server as configured, for messages (the identity says localhost for 127.0.0.1)

    @property
    def backend(self) -> str:
        return self.identity.split(":", 1)[0]

    @property
    def name(self) -> str:
        """The database's name on its server (SQLite: the file's absolute path)."""
        if self.backend == "sqlite":
            return self.identity.removeprefix("sqlite:")
        return self.identity.split("/", 3)[3]

    @property
    def server_label(self) -> str:
        """PostgreSQL/MariaDB: the server; SQLite: the folder of the file (where its templates live)."""
        if self.backend == "sqlite":
            return f"sqlite:{os.path.dirname(self.name)}"
        return self.server or self.identity.rsplit("/", 1)[0]


class Creations:
    """The databases this run created: what to migrate, and what to drop when that fails."""

    def __init__(
        self, assistants: Assistants, report: MigrationReport, templates: Templates | None = None
    ) -> None:
        self.assistants, self.report, self.templates = assistants, report, templates
        self.made: list[MissingDatabase] = []  # created by this run: dropped when not completed
        self.adopted: list[MissingDatabase] = []  # created by an earlier run: finished, never dropped

    def create(self, keys: list[DbKey]) -> list[DbKey]:
        """Create each missing database once; the keys now to migrate (the others are reported failed)."""
        ready: list[DbKey] = []
        for database in self.group(keys):
            tenants = list(dict.fromkeys(str(key.tenant) for key in database.keys))
            if len(tenants) > 1:  # one database named by two tenants: creating it would mix them
                why = f"tenants {' and '.join(t[:40] for t in tenants[:2])} name the same database {database.name[:63]!r}"
                for key in database.keys:
                    self.report.emit(TenantFailed(*key, f"not created: {why}", None, 0.0))
                continue
            if database.backend == "sqlite":  # a new file: copied from its folder's template, or migrated
                if not self._copied_file(database):
                    ready += database.keys
                continue
            try:
                with self.server(database) as server:
                    if self._copied(server, database):
                        continue
                    server.create(database.name, self.options(database))
                    with contextlib.suppress(ProvisionError):  # no database comments: no mark
                        server.set_comment(database.name, UNFINISHED)
            except DatabaseExistsError:  # another run made it meanwhile: it migrates under the run lock
                ready += database.keys
                continue
            except Exception as exc:
                why = exc.message if isinstance(exc, ProvisionError) else one_line_error(exc)
                if isinstance(exc, CreateRefusedError) and exc.denied:
                    why += " (the tenant's role needs the CREATEDB right)"
                for key in database.keys:
                    self.report.emit(TenantFailed(*key, f"could not create the database: {why}", None, 0.0))
                continue
            self.made.append(database)
            ready += database.keys
        return ready

    def new_files(self, keys: list[DbKey]) -> list[DbKey]:
        """Of these keys, the SQLite databases whose file does not exist (migrating would create it)."""
        return [
            key
            for database in self.group(keys)
            if database.backend == "sqlite"
            and os.path.isabs(database.name)  # a file (an in-memory database's name is not a path)
            and not os.path.lexists(database.name)
            for key in database.keys
        ]

    def options(self, database: MissingDatabase) -> CreateOptions:
        """How the database is created: the "CREATE" object of the first of its entries that has one."""
        for key in database.keys:
            options = CreateOptions.of(self.assistants.db_config(key))
            if options != CreateOptions():
                return options
        return CreateOptions()

    def _copied_file(self, database: MissingDatabase) -> bool:
        """A SQLite file made as a verified copy of its folder's template; False: to be migrated."""
        with self.server(database) as folder:
            try:
                return self._copied(folder, database)
            except DatabaseExistsError:  # another run made it meanwhile: it migrates under the run lock
                return False

    def _copied(self, server: Server, database: MissingDatabase) -> bool:
        """Created as a verified copy of its template (reported CREATED); False: to be migrated (a
        template that could not be used is noted on its rows)."""
        if self.templates is None:
            return False
        started = time.monotonic()
        try:
            options = self.options(database)
            digest = self.templates.digest(database.keys, server, options)
            if digest is None:
                return False
            template = self.templates.copy(server, database.keys, database.name, digest, options)
        except DatabaseExistsError:
            raise
        except Exception as exc:
            why = exc.message if isinstance(exc, ProvisionError) else one_line_error(exc)
            for key in database.keys:
                self.report.emit(TenantNoted(*key, f"not copied from a template ({why}): migrated instead"))
            return False
        seconds = time.monotonic() - started
        for key in database.keys:
            note = f"copied from template {template} (verified)"
            self.report.emit(TenantFinished(*key, Status.CREATED, 0, None, seconds, note))
        return True

    def adopt(self, keys: list[DbKey]) -> list[DbKey]:
        """Of these existing databases, those an earlier run created and never finished (UNFINISHED):
        this run migrates them and clears the mark. It never drops one: it may hold rows by now."""
        adopted: list[DbKey] = []
        for database in self.group(keys):
            if database.backend == "sqlite":  # a file that does not exist yet: migrating creates it
                if not os.path.exists(database.identity.removeprefix("sqlite:")):
                    adopted += database.keys
                continue
            try:
                with self.server(database) as server:
                    unfinished = server.comment(database.name) == UNFINISHED
            except Exception:
                continue  # cannot tell: left as it is
            if unfinished:
                self.adopted.append(database)
                adopted += database.keys
        return adopted

    def drop_incomplete(self) -> None:
        """Drop each database this run created whose migration did not complete, and say so in its rows;
        the others (and the adopted ones that completed) lose their UNFINISHED mark."""
        for database in self.adopted:
            self._completed(database)
        for database in self.made:
            if self._completed(database):
                continue
            rows = [self.report.results.get(key) for key in database.keys]
            try:
                with self.server(database) as server:
                    server.drop(database.name)
            except Exception as exc:
                note = f"the new database could not be dropped again: {one_line_error(exc)}"
            else:
                note = DROPPED
            broken = [r.label for r in rows if r is not None and r.status not in COMPLETE]
            for key, row in zip(database.keys, rows, strict=True):
                if row is None or row.status in (None, Status.NOT_STARTED, Status.SKIPPED):
                    reason = (row.reason if row else None) or "not reached"
                    self.report.emit(TenantSkipped(*key, f"{reason}; {note}", Status.NOT_STARTED))
                elif row.status in COMPLETE:
                    because = f" ({', '.join(broken)} did not complete)" if broken else ""
                    self.report.emit(TenantFailed(*key, f"{note}{because}", None, 0.0))
                else:
                    error = f"{row.error}; {note}"
                    self.report.emit(
                        TenantFailed(*key, error, row.failed_step, row.seconds, status=row.status)
                    )

    def _completed(self, database: MissingDatabase) -> bool:
        """True when every row of `database` completed; its UNFINISHED mark is then cleared."""
        rows = [self.report.results.get(key) for key in database.keys]
        if not all(row is not None and row.status in COMPLETE for row in rows):
            return False
        with contextlib.suppress(Exception), self.server(database) as server:
            server.set_comment(database.name, "")
        return True

    def group(self, keys: list[DbKey]) -> list[MissingDatabase]:
        found: dict[str, MissingDatabase] = {}
        for key in keys:
            assert key.alias is not None
            read = self.assistants.get(key.orm).bookkeeping_read(
                key.tenant or "", key.alias, self.assistants.db_config(key)
            )
            identity = read.identity if read is not None else f"unknown:{key}"
            server = read.server_name if read is not None else ""
            found.setdefault(identity, MissingDatabase(identity, server=server)).keys.append(key)
        return list(found.values())

    @contextlib.contextmanager
    def server(self, database: MissingDatabase) -> Iterator[Server]:
        """The server of `database`, reached as its tenant's own role through its maintenance database
        (SQLite: the file's folder)."""
        key, backend = database.keys[0], database.backend
        if backend == "sqlite":
            with sqlite_files(os.path.dirname(database.name)) as folder:
                yield folder
            return
        if backend not in MAINTENANCE_DATABASES:
            raise ProvisionError(f"{backend} databases cannot be created by tenant-router")
        assert key.alias is not None
        asst = self.assistants.get(key.orm)
        config = asst.scratch_config(self.assistants.db_config(key), MAINTENANCE_DATABASES[backend], {})
        read = asst.bookkeeping_read(key.tenant or "", key.alias, config)
        assert read is not None
        server = open_server(backend, read.connect, read.server_name)
        try:
            yield server
        finally:
            server.close()
