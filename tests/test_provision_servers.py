"""The per-engine database administration behind creating tenants (tenant_router/provision/servers.py).

Real PostgreSQL, MariaDB and SQLite: databases made empty with the tenant's options, copies of a
published template (tables, rows, a foreign key, a counter past max(id)), publishing as readers see it,
what is refused (a name taken, a role without CREATEDB, a template in use or holding more than tables),
copies that fail half-way, and server-wide locks that die with their holder. Names are hostile on purpose.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import MySQLdb
import psycopg
import pytest
from support.processes import clean_environment
from support.servers import MYSQL, POSTGRES, require

from tenant_router.errors import (
    CreateRefusedError,
    DatabaseExistsError,
    NotCopyableError,
    ProvisionError,
    TemplateBusyError,
)
from tenant_router.provision.servers import CreateOptions, Server, open_server, sqlite_files

#: In every name: quotes of each engine, a placeholder sign and a letter outside ASCII.
HOSTILE = "q'\"b`%é"
ENGINES = ("postgresql", "mysql", "sqlite")

SCHEMA = {
    "postgresql": [
        "CREATE TABLE parent (id serial PRIMARY KEY, name text)",
        "CREATE TABLE child (id serial PRIMARY KEY, parent_id int NOT NULL REFERENCES parent (id))",
    ],
    "mysql": [
        "CREATE TABLE parent (id int AUTO_INCREMENT PRIMARY KEY, name varchar(20)) ENGINE=InnoDB",
        "CREATE TABLE child (id int AUTO_INCREMENT PRIMARY KEY, parent_id int NOT NULL,"
        " FOREIGN KEY (parent_id) REFERENCES parent (id)) ENGINE=InnoDB",
    ],
    "sqlite": [
        "CREATE TABLE parent (id integer PRIMARY KEY AUTOINCREMENT, name text)",
        "CREATE TABLE child (id integer PRIMARY KEY AUTOINCREMENT,"
        " parent_id integer NOT NULL REFERENCES parent (id))",
    ],
}
#: Ids 1 and 2 remain; the counter stands at 4 (3 was deleted): a copy must give 4, not 3, next.
ROWS = [
    "INSERT INTO parent (name) VALUES ('a'), ('b'), ('c')",
    "DELETE FROM parent WHERE id = 3",
    "INSERT INTO child (parent_id) VALUES (2)",
]
FK_ERRORS = (psycopg.errors.ForeignKeyViolation, MySQLdb.IntegrityError, sqlite3.IntegrityError)


def connect(kind: str, database: str, *, user: str | None = None, password: str = "") -> Any:
    """An autocommit DB-API connection to `database` (the maintenance one for a Server)."""
    if kind == "postgresql":
        p = POSTGRES.parts
        return psycopg.connect(
            host=p["host"], port=p["port"], user=user or p["user"], password=password or p["password"] or None,
            dbname=database, autocommit=True, connect_timeout=5,
        )  # fmt: skip
    if kind == "mysql":
        p = MYSQL.parts
        conn = MySQLdb.connect(
            host=p["host"], port=int(p["port"]), user=user or p["user"], password=password or p["password"],
            db=database, charset="utf8mb4", connect_timeout=5,
        )  # fmt: skip
        conn.autocommit(True)
        return conn
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def admin_server(kind: str, folder: str = "", *, user: str | None = None, password: str = "") -> Server:
    """The Server of `kind` as the lead's code opens it (also used by the lock-holding child process)."""
    if kind == "sqlite":
        return sqlite_files(folder)
    parts = (POSTGRES if kind == "postgresql" else MYSQL).parts
    maintenance = "postgres" if kind == "postgresql" else "information_schema"
    auth = (user or parts["user"]) + (f":{password}" if password else "")
    label = f"{kind}://{auth}@{parts['host']}:{parts['port']}"
    return open_server(kind, lambda: connect(kind, maintenance, user=user, password=password), label)


@dataclass
class Engine:
    """One engine under test: its Server, and unique hostile names dropped when the test ends."""

    kind: str
    folder: Path
    server: Server
    made: list[str] = field(default_factory=list)
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def prefix(self) -> str:
        """What every name of this test starts with."""
        return str(self.folder / f"trp_{self.token}_") if self.kind == "sqlite" else f"trp_{self.token}_"

    def name(self, tag: str) -> str:
        name = f"trp_{self.token}_{tag}{HOSTILE}"
        if self.kind == "sqlite":
            name = str(self.folder / name)
        self.made.append(name)
        return name

    def sql(self, database: str, *statements: str) -> list[tuple[Any, ...]]:
        """Run statements in `database`; the rows of the last one."""
        conn = connect(self.kind, database)
        try:
            cursor, rows = conn.cursor(), []
            for statement in statements:
                cursor.execute(statement)
                rows = [tuple(r) for r in cursor.fetchall()] if cursor.description else []
            return rows
        finally:
            conn.close()

    def template(self, comment: str = "schema 1") -> str:
        """A published template: two tables, rows, a foreign key, a counter past max(id)."""
        building, final = self.name("building"), self.name("tpl")
        self.server.create(building, CreateOptions())
        self.sql(building, *SCHEMA[self.kind], *ROWS)
        self.server.publish(building, final, comment)
        return final


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Each engine in turn."""
    kind = request.param
    if kind != "sqlite":
        require(POSTGRES if kind == "postgresql" else MYSQL)
    made = Engine(kind, tmp_path, admin_server(kind, str(tmp_path)))
    try:
        yield made
    finally:
        made.server.close()
        with admin_server(kind, str(tmp_path)) as cleaner:
            for name in made.made:
                cleaner.drop(name)


servers_only = pytest.mark.parametrize("engine", ["postgresql", "mysql"], indirect=True)


@servers_only
def test_create_empty_applies_the_tenant_options(engine: Engine) -> None:
    name = engine.name("empty")
    if engine.kind == "postgresql":
        role = f"trp_owner_{uuid.uuid4().hex[:8]}"
        POSTGRES.execute(f"CREATE ROLE {role} NOLOGIN")
        try:
            engine.server.create(name, CreateOptions(owner=role, encoding="LATIN1", collation="C"))
            catalogue = engine.sql(
                "postgres",
                "SELECT pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba)"
                f" FROM pg_database WHERE datname = {psycopg.sql.Literal(name).as_string(None)}",
            )
            assert engine.server.exists(name)
            engine.server.drop(name)  # before its owner goes
        finally:
            POSTGRES.execute(f"DROP ROLE IF EXISTS {role}")
        assert catalogue == [("LATIN1", "C", "C", role)]
    else:
        engine.server.create(name, CreateOptions(owner="ignored", encoding="latin1", collation="latin1_bin"))
        rows = engine.sql(name, "SELECT @@character_set_database, @@collation_database")
        assert rows == [("latin1", "latin1_bin")]


def test_copy_holds_the_template_rows_keys_and_counters(engine: Engine) -> None:
    template = engine.template()
    copy = engine.name("copy")

    engine.server.create(copy, CreateOptions(), template=template)

    assert engine.sql(copy, "SELECT id, name FROM parent ORDER BY id") == [(1, "a"), (2, "b")]
    assert engine.sql(copy, "SELECT id, parent_id FROM child") == [(1, 2)]
    engine.sql(copy, "INSERT INTO parent (name) VALUES ('d')")
    assert engine.sql(copy, "SELECT max(id) FROM parent") == [(4,)]  # as the template would give
    with pytest.raises(FK_ERRORS):
        engine.sql(copy, "INSERT INTO child (parent_id) VALUES (99)")
    listed = {info.name: info.comment for info in engine.server.databases(engine.prefix)}
    assert listed == {template: "schema 1", copy: None}  # the comment marks the template alone


def test_a_database_that_exists_is_never_touched(engine: Engine) -> None:
    template, taken = engine.template(), engine.name("taken")
    engine.server.create(taken, CreateOptions())
    engine.sql(taken, "CREATE TABLE precious (v int)", "INSERT INTO precious VALUES (7)")

    for source in (None, template):
        with pytest.raises(DatabaseExistsError, match="exists"):
            engine.server.create(taken, CreateOptions(), template=source)

    assert engine.sql(taken, "SELECT v FROM precious") == [(7,)]


class Recording:
    """A DB-API connection that notes each statement it is sent (the server still runs every one)."""

    def __init__(self, conn: Any, log: list[str]) -> None:
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "log", log)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._conn, name, value)

    def cursor(self) -> Any:
        cursor, log = self._conn.cursor(), self.log

        class Cursor:
            def __getattr__(self, name: str) -> Any:
                return getattr(cursor, name)

            def execute(self, sql: str, params: Any = None) -> Any:
                log.append(sql)
                return cursor.execute(sql, params)

        return Cursor()


def test_publish_shows_the_template_only_whole_and_commented(engine: Engine) -> None:
    building, final = engine.name("building"), engine.name("tpl")
    engine.server.create(building, CreateOptions())
    tables = [f"CREATE TABLE t{i} (id int PRIMARY KEY)" for i in range(40)]
    engine.sql(building, *tables)
    prefix = engine.prefix
    assert [(i.name, i.comment) for i in engine.server.databases(prefix)] == [(building, None)]
    log: list[str] = []
    if engine.kind != "sqlite":
        maintenance = "postgres" if engine.kind == "postgresql" else "information_schema"
        publisher = open_server(engine.kind, lambda: Recording(connect(engine.kind, maintenance), log), "x")
    else:
        publisher = engine.server
    seen = watch(engine, final, len(tables))

    publisher.publish(building, final, "schema 'whole'")
    seen["stop"] = True
    seen["thread"].join()

    assert seen["bad"] == [], "a reader saw the template before it was whole"
    assert [(i.name, i.comment) for i in engine.server.databases(prefix)] == [(final, "schema 'whole'")]
    if engine.kind == "postgresql":  # one transaction, nothing between its statements
        [statement] = [s for s in log if "RENAME" in s]
        assert statement.startswith("BEGIN;") and statement.endswith("COMMIT")
        assert "COMMENT ON DATABASE" in statement and "ALLOW_CONNECTIONS false" in statement
    if engine.kind == "mysql":  # the comment after the one RENAME TABLE that moves every table
        order = [
            next(i for i, s in enumerate(log) if s.startswith(p))
            for p in ("CREATE", "RENAME", "ALTER", "DROP")
        ]
        assert order == sorted(order) and sum(s.startswith("RENAME") for s in log) == 1
    publisher.close()


def watch(engine: Engine, final: str, tables: int) -> dict[str, Any]:
    """A reader polling `final` from another connection while it is published; notes what it must not see."""
    state: dict[str, Any] = {"stop": False, "bad": []}
    reader = admin_server(engine.kind, str(engine.folder))

    def poll() -> None:
        with reader:
            while not state["stop"]:
                if engine.kind == "mysql":
                    [(comment, count)] = reader.run(  # type: ignore[attr-defined]
                        "SELECT COALESCE(MAX(s.SCHEMA_COMMENT), ''), (SELECT COUNT(*) FROM"
                        " information_schema.TABLES t WHERE BINARY t.TABLE_SCHEMA = %s)"
                        " FROM information_schema.SCHEMATA s WHERE BINARY s.SCHEMA_NAME = %s",
                        (final, final),
                    )
                    if comment and count != tables:
                        state["bad"].append((comment, count))
                elif reader.exists(final) and reader.comment(final) is None:
                    state["bad"].append("no comment")

    state["thread"] = threading.Thread(target=poll)
    state["thread"].start()
    return state


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_published_postgres_template_takes_no_connection_yet_copies(engine: Engine) -> None:
    template, copy = engine.template(), engine.name("copy")

    with pytest.raises(psycopg.OperationalError, match="not currently accepting connections"):
        connect("postgresql", template)
    engine.server.create(copy, CreateOptions(), template=template)

    assert engine.sql(copy, "SELECT count(*) FROM parent") == [(2,)]


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_postgres_copy_of_a_database_in_use_is_busy(engine: Engine) -> None:
    source, copy = engine.name("source"), engine.name("copy")
    engine.server.create(source, CreateOptions())
    someone = connect("postgresql", source)
    try:
        with pytest.raises(TemplateBusyError, match="being accessed by other users"):
            engine.server.create(copy, CreateOptions(), template=source)
    finally:
        someone.close()
    assert not engine.server.exists(copy)


@servers_only
def test_a_role_that_may_not_create_databases_is_denied(engine: Engine) -> None:
    role, secret, name = f"trp_weak_{engine.token}", "s3cret-pw", engine.name("denied")
    if engine.kind == "postgresql":
        POSTGRES.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB PASSWORD '{secret}'")
        drop = [f"DROP ROLE IF EXISTS {role}"]
    else:
        hosts = ("localhost", "%")
        for host in hosts:
            MYSQL.execute(f"CREATE USER '{role}'@'{host}' IDENTIFIED BY '{secret}'")  # no privileges
        drop = [f"DROP USER IF EXISTS '{role}'@'{host}'" for host in hosts]
    try:
        with (
            admin_server(engine.kind, user=role, password=secret) as weak,
            pytest.raises(CreateRefusedError) as refused,
        ):
            weak.create(name, CreateOptions())
    finally:
        for statement in drop:
            (POSTGRES if engine.kind == "postgresql" else MYSQL).execute(statement)

    assert refused.value.denied
    assert repr(name) in str(refused.value) and f"{role}:***@" in str(refused.value)
    assert secret not in str(refused.value)
    assert not engine.server.exists(name)


HOLDER = """
import sys, time
sys.path.insert(0, sys.argv[3])
from test_provision_servers import admin_server
server = admin_server(sys.argv[1], sys.argv[2])
held = server.lock("template build", 10)
held.__enter__()
print("held", flush=True)
time.sleep(600)
"""


def test_a_lock_holds_others_off_and_dies_with_its_holder(engine: Engine) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, engine.kind, str(engine.folder), str(Path(__file__).parent)],
        stdout=subprocess.PIPE, text=True, env=clean_environment(), start_new_session=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(TimeoutError, match="template build"), engine.server.lock("template build", 0.3):
            pass
        with engine.server.lock("another key", 0.3):  # keys are apart
            pass
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()

    with engine.server.lock("template build", 30):  # the server saw the session die
        pass


@pytest.mark.parametrize("engine", ["mysql", "sqlite"], indirect=True)
def test_a_copy_that_fails_half_way_drops_what_it_made(engine: Engine) -> None:
    template, copy = engine.name("tpl"), engine.name("copy")
    if engine.kind == "mysql":  # the first table copies; the second holds a row its CHECK refuses
        engine.server.create(template, CreateOptions())
        engine.sql(
            template,
            "CREATE TABLE a_fine (id int PRIMARY KEY)",
            "INSERT INTO a_fine VALUES (1)",
            "CREATE TABLE b_bad (v int, CONSTRAINT positive CHECK (v > 0))",
            "SET SESSION check_constraint_checks = 0",
            "INSERT INTO b_bad VALUES (-1)",
        )
    else:  # a file that is no database
        Path(template).write_text("not a database")

    with pytest.raises(CreateRefusedError) as failed:
        engine.server.create(copy, CreateOptions(), template=template)

    assert not failed.value.denied and repr(copy) in str(failed.value)
    assert not engine.server.exists(copy)
    assert engine.server.exists(template)
    if engine.kind == "mysql":
        assert "b_bad" in str(failed.value) and "dropped" in (failed.value.hint or "")
        assert engine.sql(template, "SELECT v FROM b_bad") == [(-1,)]
    else:
        assert sorted(os.listdir(engine.folder)) == [os.path.basename(template)]  # no temporary file left


@pytest.mark.parametrize("engine", ["mysql"], indirect=True)
def test_a_mariadb_template_with_more_than_tables_is_not_copied(engine: Engine) -> None:
    template, copy = engine.template(), engine.name("copy")
    MYSQL.execute(
        f"CREATE VIEW `{template.replace('`', '``')}`.names AS SELECT name FROM `{template.replace('`', '``')}`.parent"
    )

    with pytest.raises(NotCopyableError, match="view 'names'"):
        engine.server.create(copy, CreateOptions(), template=template)

    assert not engine.server.exists(copy)


@servers_only
def test_a_name_the_server_would_cut_short_is_refused(engine: Engine) -> None:
    too_long = engine.prefix + (
        "é" * 32 if engine.kind == "postgresql" else "x" * 60
    )  # 64+ bytes / 65+ chars
    engine.made.append(too_long)

    with pytest.raises(ProvisionError, match=r"allows 1 to 6[34]"):
        engine.server.create(too_long, CreateOptions())

    assert engine.server.databases(engine.prefix) == []


def test_sqlite_folder_missing_or_not_writable_is_named(tmp_path: Path) -> None:
    files = sqlite_files(str(tmp_path))
    missing = tmp_path / "nowhere" / "t.sqlite3"
    with pytest.raises(CreateRefusedError, match=r"folder .*nowhere.* does not exist") as refused:
        files.create(str(missing), CreateOptions())
    assert not refused.value.denied

    locked = Path(tempfile.mkdtemp(prefix="trp_ro_"))  # not under tmp_path: another user must reach it
    try:
        locked.chmod(0o555)
        outcome = _unprivileged(str(locked / "t.sqlite3"))
        assert os.listdir(locked) == []
    finally:
        locked.rmdir()
    assert outcome == [
        "CreateRefusedError",
        True,
        f"cannot create '{locked}/t.sqlite3': folder '{locked}' is not writable",
    ]


def _unprivileged(path: str) -> list[Any]:
    """What sqlite_files().create(path) raises in a process that may not write anywhere (root may)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: give up root if we are root, try, report, leave at once
        os.close(read)
        outcome: Any = ("nothing raised", None, "")
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            sqlite_files("/").create(path, CreateOptions())
        except Exception as exc:
            outcome = (type(exc).__name__, getattr(exc, "denied", None), str(exc))
        os.write(write, json.dumps(outcome).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        reported = json.load(pipe)
    os.waitpid(pid, 0)
    return reported  # type: ignore[no-any-return]
