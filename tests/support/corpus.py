"""The corpus fleet: pinned third-party migration histories (tests/corpus) migrated by tenant-router and
by the oracle, so that each tenant can be compared with what the frameworks' own tools give.

The oracle runs each tool in its own process with one database alone: `python -m django migrate` with
corpussite.oracle_settings (DATABASES["default"] = that database, tenant-router neither installed nor
routing), then `python -m alembic upgrade` on optuna's environment with an ini naming that database.
Starting states are provisioned with the same tools. Each state, and the oracle's result from it, is
built once per engine and session; tests get copies (a Fleet, in support/corpus_fleet.py) (PostgreSQL: CREATE DATABASE ... TEMPLATE; SQLite:
a file copy; MariaDB: SHOW CREATE TABLE and INSERT ... SELECT), created and dropped by the test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support import processes
from support.describe import describe
from support.paths import TESTS
from support.servers import MYSQL, POSTGRES, Server, require

CORPUS = TESTS / "corpus"
SETTINGS = "corpussite.settings"
ENGINES = ("sqlite", "postgres", "mysql")

# optuna's env.py runs every revision; v2.4.0.a drops a column that is part of a two-column unique key,
# which MySQL allows and MariaDB refuses ("Key column 'step' doesn't exist in table"), so on MariaDB the
# corpus stops optuna at v1.3.0.a (corpussite.settings sets the same TARGET).
OPTUNA_HEAD = {"sqlite": "v3.2.0.a", "postgres": "v3.2.0.a", "mysql": "v1.3.0.a"}


@dataclass(frozen=True)
class State:
    """A starting point: the oracle's commands that provision it, from an empty database."""

    django: tuple[tuple[str, ...], ...]  # each: the arguments of one `django-admin migrate` process
    optuna: dict[str, str | None]  # per engine: `alembic upgrade` target (None: leave Alembic alone)
    seed_optuna: bool = False  # optuna rows for its data migrations (v3.0.0.a-d) to rewrite


STATES = {
    "empty": State((), {"sqlite": None, "postgres": None, "mysql": None}),
    # wagtailcore stopped before 0070 (the Revision rename) and 0086 (create_permissions), social_django
    # before its data migration 0013; allauth, corpusapp and wagtail's other apps at zero
    "partial": State(
        (("wagtailcore", "0060"), ("social_django", "0012")),
        {"sqlite": "v2.6.0.a", "postgres": "v2.6.0.a", "mysql": "v0.9.0.a"},
        seed_optuna=True,
    ),
    # everything at head but corpusapp 0003 and optuna's last revision
    "one_behind": State(
        ((), ("corpusapp", "0002")), {"sqlite": "v3.0.0.d", "postgres": "v3.0.0.d", "mysql": "v1.2.0.a"}
    ),
}

OPTUNA_ROWS = [  # at v2.6.0.a: old-style distributions and values for v3.0.0.a-d to rewrite
    "INSERT INTO studies (study_id, study_name) VALUES (1, 'corpus-study')",
    "INSERT INTO study_directions (study_direction_id, direction, study_id, objective) VALUES (1, 'MINIMIZE', 1, 0)",
    "INSERT INTO trials (trial_id, study_id, state, number) VALUES (1, 1, 'COMPLETE', 0), (2, 1, 'RUNNING', 1)",
    "INSERT INTO trial_params (param_id, trial_id, param_name, param_value, distribution_json) VALUES "
    """(1, 1, 'x', 0.5, '{"name": "UniformDistribution", "attributes": {"low": 0.0, "high": 1.0}}'), """
    """(2, 1, 'n', 3, '{"name": "IntUniformDistribution", "attributes": {"low": 1, "high": 9, "step": 1}}')""",
    "INSERT INTO trial_values (trial_value_id, trial_id, value, objective) VALUES (1, 1, 0.25, 0)",
    "INSERT INTO trial_intermediate_values (trial_intermediate_value_id, trial_id, step, intermediate_value) "
    "VALUES (1, 1, 0, 0.75), (2, 1, 1, 0.5)",
]


def token() -> str:
    """A short random suffix for a database name."""
    return uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class Db:
    """One database of the corpus: a SQLite file, or a database on a server."""

    engine: str
    name: str  # SQLite: the file's path
    server: Server | None = None

    def entry(self, *, port: str | None = None) -> dict[str, Any]:
        """Its DATABASES entry."""
        if self.server is None:
            return {"ENGINE": "django.db.backends.sqlite3", "NAME": self.name}
        entry = self.server.django_settings(self.name)
        return {**entry, "PORT": port} if port else entry

    @property
    def url(self) -> str:
        """Its SQLAlchemy URL."""
        return f"sqlite:///{self.name}" if self.server is None else self.server.sqlalchemy_url(self.name)

    def tenant_entry(self, service: str = "corpus") -> dict[str, Any]:
        """Its tenant-configuration entry: both ORMs of the tenant in this one database."""
        orm_config = {
            "django_orm": {"default": self.entry()},
            "sqlalchemy_orm": {"default": {"URL": self.url}},
        }
        return {service: {"orm_config": orm_config}}

    def describe(self) -> dict[str, Any]:
        return describe(self.url)

    def execute(self, *statements: str) -> None:
        """Run statements in one transaction (autocommit DDL on MariaDB)."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                for sql in statements:
                    conn.execute(sa.text(sql))
        finally:
            engine.dispose()


def corpus_env(engine: str, server: Server | None, **extra: str) -> dict[str, str]:
    """The environment of a corpus subprocess: its project on the path, the engine chosen."""
    env = processes.clean_environment(CORPUS, CORPUS_ENGINE=engine)  # the cleaner drops inherited CORPUS_*
    if server is not None:
        env["CORPUS_SERVER"] = server.url
    env.update(extra)
    return env


def run(
    args: Sequence[str], env: dict[str, str], *, check: bool = True, cwd: Path = CORPUS
) -> subprocess.CompletedProcess[str]:
    """Run one command (a real process) and return what it printed; the migrations take their time."""
    return processes.run(args, cwd, env=env, timeout=900, check=check)


def oracle_migrate(
    db: Db, args: Sequence[str] = (), *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`django-admin migrate [args]` in its own process, DATABASES["default"] = db alone."""
    env = corpus_env(db.engine, db.server, CORPUS_ORACLE_DB=db.name)
    command = [sys.executable, "-m", "django", "migrate", *args, "--settings", "corpussite.oracle_settings"]
    return run([*command, "--verbosity", "0"], env, check=check)


def oracle_upgrade(db: Db, revision: str, folder: Path) -> None:
    """`alembic upgrade revision` in its own process, on optuna's environment, sqlalchemy.url = db."""
    ini = folder / f"alembic-{token()}.ini"
    text = (CORPUS / "alembic.ini").read_text()
    ini.write_text(text.replace("driver://set-per-database", db.url.replace("%", "%%")))
    try:
        run(
            [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", revision],
            corpus_env(db.engine, db.server),
        )
    finally:
        ini.unlink()


def oracle(db: Db, folder: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The oracle from wherever db is: `django-admin migrate`, then `alembic upgrade` to optuna's head."""
    result = oracle_migrate(db, check=check)
    oracle_upgrade(db, OPTUNA_HEAD[db.engine], folder)
    return result


class Store:
    """Makes, copies and drops the databases of one engine; drops whatever is left at close()."""

    def __init__(self, engine: str, folder: Path) -> None:
        self.engine, self.folder = engine, folder
        self.server = None if engine == "sqlite" else require(POSTGRES if engine == "postgres" else MYSQL)
        self.made: list[Db] = []

    def new(self, label: str) -> Db:
        """A new empty database (for SQLite, a path with no file yet)."""
        if self.server is None:
            db = Db("sqlite", str(self.folder / f"{label}-{token()}.sqlite3"))
        else:
            db = Db(self.engine, f"trc_{label}_{token()}", self.server)
            self.server.create_database(db.name)
        self.made.append(db)
        return db

    def copy(self, source: Db, label: str) -> Db:
        """A new database holding exactly what `source` holds."""
        if self.server is None:
            db = self.new(label)
            if Path(source.name).exists():
                shutil.copyfile(source.name, db.name)
            return db
        db = Db(self.engine, f"trc_{label}_{token()}", self.server)
        self.made.append(db)
        if self.engine == "postgres":
            self._retry(f'CREATE DATABASE "{db.name}" TEMPLATE "{source.name}"')
        else:
            self.server.create_database(db.name)
            self._copy_tables(source, db)
        return db

    def _retry(self, sql: str) -> None:
        """CREATE DATABASE ... TEMPLATE fails while a closed session on the source is still exiting."""
        assert self.server is not None
        for attempt in range(50):
            try:
                self.server.execute(sql)
                return
            except Exception as exc:
                if "being accessed by other users" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.1)

    def _copy_tables(self, source: Db, target: Db) -> None:
        assert self.server is not None
        conn = self.server.admin()
        try:
            cur = conn.cursor()
            cur.execute("SET SESSION FOREIGN_KEY_CHECKS = 0")
            cur.execute(f"SHOW FULL TABLES FROM `{source.name}` WHERE Table_type = 'BASE TABLE'")
            tables = [r[0] for r in cur.fetchall()]
            cur.execute(f"USE `{target.name}`")
            for table in tables:
                cur.execute(f"SHOW CREATE TABLE `{source.name}`.`{table}`")
                create = cur.fetchone()[
                    1
                ]  # names no database: made in the target, FKs, AUTO_INCREMENT and all
                cur.execute(create)
                cur.execute(f"INSERT INTO `{table}` SELECT * FROM `{source.name}`.`{table}`")
        finally:
            conn.close()

    def drop(self, db: Db) -> None:
        if db in self.made:
            self.made.remove(db)
        if self.server is None:
            for suffix in ("", "-journal", "-wal", "-shm", ".tenant-router.lock"):
                Path(db.name + suffix).unlink(missing_ok=True)
        else:
            self.server.drop_database(db.name)

    def close(self) -> None:
        for db in list(self.made):
            self.drop(db)


class Corpus:
    """One engine's starting states and the oracle's result from each, built on first use, kept for the session."""

    def __init__(self, store: Store) -> None:
        self.store, self.engine = store, store.engine
        self._start: dict[str, Db] = {}
        self._final: dict[str, Db] = {}
        self._expected: dict[str, dict[str, Any]] = {}
        self.timings: dict[str, float] = {}  # "build partial", "oracle from partial", ...

    def start(self, state: str) -> Db:
        """The database provisioned to `state` by the oracle's own tools (never handed to a test)."""
        if state not in self._start:
            began = time.monotonic()
            db = self.store.new(f"start_{state}")
            spec = STATES[state]
            for args in spec.django:
                oracle_migrate(db, args)
            revision = spec.optuna[self.engine]
            if revision is not None:
                oracle_upgrade(db, revision, self.store.folder)
                if spec.seed_optuna and revision == "v2.6.0.a":
                    db.execute(*OPTUNA_ROWS)
            self._start[state] = db
            self.timings[f"provision {state}"] = time.monotonic() - began
        return self._start[state]

    def final(self, state: str) -> Db:
        """A copy of start(state) taken to the end by the oracle."""
        if state not in self._final:
            db = self.store.copy(self.start(state), f"final_{state}")
            began = time.monotonic()
            oracle(db, self.store.folder)
            self.timings[f"oracle from {state}"] = time.monotonic() - began
            self._final[state] = db
        return self._final[state]

    def expected(self, state: str) -> dict[str, Any]:
        """describe() of the oracle's result from `state`."""
        if state not in self._expected:
            self._expected[state] = self.final(state).describe()
        return self._expected[state]

    def copy(self, state: str, label: str) -> Db:
        """A fresh database in `state`, for a test to migrate (the test's Fleet drops it)."""
        return self.store.copy(self.start(state), label)


class Corpora:
    """The Corpus of each engine, made on first use; every database dropped at close()."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.corpora: dict[str, Corpus] = {}

    def __call__(self, engine: str) -> Corpus:
        if engine not in self.corpora:
            folder = self.folder / engine
            folder.mkdir(exist_ok=True)
            self.corpora[engine] = Corpus(Store(engine, folder))
        return self.corpora[engine]

    def close(self) -> None:
        for corpus in self.corpora.values():
            corpus.store.close()
