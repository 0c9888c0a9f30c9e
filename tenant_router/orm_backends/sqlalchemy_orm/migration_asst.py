"""AlembicMigrationAsst: `alembic upgrade heads` per tenant database, through the project's own env.py.

Per database we build an alembic Config (`sqlalchemy.url` set, an open connection in
`config.attributes["connection"]`) and run env.py unchanged inside an EnvironmentContext whose
`configure()` adds our `on_version_apply` callback to the env.py's own, and whose migration function
reports the plan and each revision as it starts. So both env.py styles work: the one that builds its
engine from `sqlalchemy.url` and the cookbook one that uses the connection it is given.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationInfo, RevisionStep
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url

from ...errors import TenantRouterError, UsageError
from ...preflight import BookkeepingRead
from ...record.report import DatabaseRun, one_line_error
from ...safety.lockwait import StepGuard, StepLimits
from ..base import BaseOrmMigrationAsst
from .manager import SqlAlchemyOrmManager
from .preflight import bookkeeping_read
from .scripts import BACKWARDS, AlembicScripts, revision_id, settings_base_dir, steps_to

#: Alembic's `context` and `op` are process-wide proxies: one upgrade at a time per process.
ALEMBIC_LOCK = threading.RLock()

OnVersionApply = Callable[..., None]


class EnvPyError(TenantRouterError):
    """env.py finished without running the migrations it was asked to run."""


class EnvironmentFailedError(TenantRouterError):
    """The Alembic environment (env.py) failed before any revision ran."""


class RevisionFailedError(TenantRouterError):
    """An Alembic revision raised; the message names it and where the database was left."""


def _callbacks(value: Any) -> tuple[OnVersionApply, ...]:
    if value is None:
        return ()
    return (value,) if callable(value) else tuple(value)


def reporting_environment(
    config: Config, script: ScriptDirectory, *, on_applied: OnVersionApply, **kw: Any
) -> EnvironmentContext:
    """An EnvironmentContext whose configure() chains our on_version_apply after env.py's own.

    Alembic installs its `context` proxy for the exact class EnvironmentContext (a subclass gets no
    proxy), and the proxy calls `configure` on the instance: so the instance's configure is wrapped.
    """
    env = EnvironmentContext(config, script, **kw)
    configure = env.configure

    def configure_reporting(*args: Any, **options: Any) -> None:
        options["on_version_apply"] = (*_callbacks(options.get("on_version_apply")), on_applied)
        configure(*args, **options)

    env.configure = configure_reporting  # type: ignore[method-assign]
    return env


class AlembicUpgrade:
    """One upgrade of one database to `scripts.target`, reported through `run`."""

    def __init__(self, scripts: AlembicScripts, run: DatabaseRun, limits: StepLimits | None = None) -> None:
        self.scripts, self.run = scripts, run
        self.limits = limits or StepLimits()
        self.started = False
        self.migration_ctx: MigrationContext | None = None

    def _steps(self, heads: Sequence[str], context: MigrationContext) -> Iterator[RevisionStep]:
        """The migration function env.py's run_migrations() calls with the database's current heads."""
        self.started, self.migration_ctx = True, context
        unlimit = self._limit(context.connection) if self.limits and context.connection is not None else None
        try:
            steps = steps_to(self.scripts.script, self.scripts.target, heads)
            self.run.planned([revision_id(s) for s in steps], ", ".join(heads) or None)
            for step in steps:
                self.run.step_started(revision_id(step))
                yield step  # alembic applies it, then calls _applied inside the same transaction
        finally:
            if unlimit is not None:  # an env.py that migrates again on this connection: one guard
                unlimit()

    def _limit(self, connection: Connection) -> Callable[[], None]:
        """Every revision's statements on the connection env.py migrates over run under the limits;
        returns what takes the limits' listeners off the connection again."""
        dialect = "mariadb" if getattr(connection.dialect, "is_mariadb", False) else connection.dialect.name
        guard = StepGuard(self.limits, dialect, lambda: connection.connection.dbapi_connection, self.run)

        def before(conn: Any, cursor: Any, sql: str, *rest: Any) -> None:
            guard.before(sql)

        def after(conn: Any, cursor: Any, sql: str, *rest: Any) -> None:
            guard.after(sql)

        event.listen(connection, "before_cursor_execute", before)
        event.listen(connection, "after_cursor_execute", after)

        def unlimit() -> None:
            event.remove(connection, "before_cursor_execute", before)
            event.remove(connection, "after_cursor_execute", after)

        return unlimit

    def _applied(self, *, ctx: MigrationContext, step: MigrationInfo, heads: Any, run_args: Any) -> None:
        if step.is_stamp or not step.up_revision_id:
            return
        if step.is_upgrade:
            self.run.step_applied(step.up_revision_id)
        else:
            self.run.step_applied(step.up_revision_id + BACKWARDS)
            self.run.current = ", ".join(step.down_revision_ids) or "base"

    def __call__(self, url: str, connection: Connection) -> None:
        """Run env.py against `url` / `connection`; commit what the env.py left open."""
        config = self.scripts.config(url, connection)
        with ALEMBIC_LOCK:
            env = reporting_environment(
                config,
                self.scripts.script,
                on_applied=self._applied,
                fn=self._steps,
                destination_rev=self.scripts.target,
            )
            with env:
                self.scripts.script.run_env()
        if connection.in_transaction():  # the cookbook env.py runs inside our connection's transaction
            connection.commit()
        if not self.started:
            raise EnvPyError(
                f"env.py at {self.scripts.script.env_py_location} returned without calling "
                "context.run_migrations().",
                hint="Run `alembic upgrade heads` on one database to see what env.py does.",
            )

    def database_heads(self, connection: Connection) -> tuple[str, ...] | None:
        """The heads recorded in the database now (after a failure), or None when unknown."""
        ctx = self.migration_ctx
        opts = (
            {"version_table": ctx.version_table, "version_table_schema": ctx.version_table_schema}
            if ctx
            else {}
        )
        try:
            if connection.in_transaction():
                connection.rollback()
            return tuple(MigrationContext.configure(connection, opts=opts).get_current_heads())
        except Exception:
            return None


class AlembicMigrationAsst(BaseOrmMigrationAsst):
    """Upgrades every tenant database of a SQLAlchemy ORM with the project's Alembic environment.

    OPTIONS: ALEMBIC_INI and/or SCRIPT_LOCATION (relative to BASE_DIR; `package:dir` works too),
    TARGET (default "heads"), VERSION_TABLE (default "alembic_version": name yours if env.py
    configures another, so the pre-flight reads the right table). A broken environment is a ConfigurationError raised here, before the run.
    """

    def __init__(
        self,
        manager: SqlAlchemyOrmManager,
        *,
        ALEMBIC_INI: str | Path | None = None,
        SCRIPT_LOCATION: str | Path | None = None,
        TARGET: str = "heads",
        VERSION_TABLE: str = "alembic_version",
    ) -> None:
        super().__init__(
            manager,
            ALEMBIC_INI=ALEMBIC_INI,
            SCRIPT_LOCATION=SCRIPT_LOCATION,
            TARGET=TARGET,
            VERSION_TABLE=VERSION_TABLE,
        )
        if (
            not isinstance(VERSION_TABLE, str)
            or not VERSION_TABLE.replace("_", "").replace(".", "").isalnum()
        ):
            raise ValueError(f"VERSION_TABLE must be a table name, got {VERSION_TABLE!r}")
        self.version_table = VERSION_TABLE
        self.scripts = AlembicScripts.locate(
            f"TENANT_ROUTER_ORM_SETTINGS[{manager.orm_key!r}]['OPTIONS']['MIGRATION_ASST']['OPTIONS']",
            alembic_ini=ALEMBIC_INI,
            script_location=SCRIPT_LOCATION,
            target=TARGET,
            base_dir=settings_base_dir(),
        )

    @property
    def sa_manager(self) -> SqlAlchemyOrmManager:
        """The manager, typed."""
        assert isinstance(self.manager, SqlAlchemyOrmManager)
        return self.manager

    LOCKS_ITS_OWN_CONNECTION = True  # the run lock is held on the connection handed to env.py
    NOTHING_APPLIED = "base"

    def set_target(self, target: tuple[str, ...]) -> None:
        """`--target REV`: upgrade or downgrade every selected database to REV (or `base`)."""
        if len(target) != 1:
            raise UsageError(
                "--target for Alembic takes one revision: --target ae1027a6acf (or base, heads)."
            )
        try:
            self.scripts.script.get_revisions(target[0])
        except Exception as exc:
            raise UsageError(f"--target {target[0]!r}: {one_line_error(exc)}.") from exc
        self.scripts.target = target[0]

    def graph_fingerprint(self) -> str:
        """A digest of the Alembic scripts: every revision and what it revises."""
        revisions = sorted(
            (rev.revision, repr(rev.down_revision)) for rev in self.scripts.script.walk_revisions()
        )
        return hashlib.sha256(repr(revisions).encode()).hexdigest()[:16]

    def scratch_config(
        self, db_config: dict[str, Any], name: str | None, overrides: dict[str, Any]
    ) -> dict[str, Any]:
        """Drift: the same URL naming another database, with the scratch connection overrides."""
        from .scratch import scratch_url

        return {**db_config, "URL": scratch_url(db_config["URL"], name, overrides)}

    def migrate_scratch(
        self, db_config: dict[str, Any], alias: str, reserved: bool, applied: tuple[tuple[str, ...], ...]
    ) -> None:
        """Drift: `alembic upgrade` the empty scratch database to the tenant's revision."""
        from .scratch import migrate_scratch

        migrate_scratch(self, db_config, applied)

    def step_rolled_back(self, step: str, db_config: dict[str, Any]) -> bool:
        """PostgreSQL and SQLite run a revision inside a transaction the server rolls back whole when
        the connection is lost (env.py's begin_transaction(); MySQL commits DDL at once)."""
        return make_url(db_config["URL"]).get_backend_name() in ("postgresql", "sqlite")

    def bookkeeping_read(self, tenant: str, alias: str, db_config: dict[str, Any]) -> BookkeepingRead:
        """Pre-flight: VERSION_TABLE's heads against the scripts, over a raw connection (no env.py)."""
        return bookkeeping_read(self.scripts, db_config["URL"], self.version_table)

    def migrate_database(self, run: DatabaseRun, db_config: dict[str, Any]) -> None:
        """Upgrade one database to TARGET; the engine and connection are gone afterwards."""
        engine = self.sa_manager.create_engine(db_config)
        upgrade = AlembicUpgrade(self.scripts, run, self.limits)
        try:
            with ExitStack() as stack:
                opened: list[Connection] = []

                def dbapi() -> Any:  # the run lock is held on the connection env.py is given
                    opened.append(stack.enter_context(engine.connect()))
                    return opened[0].connection.dbapi_connection

                with self.hold_run_lock(dbapi, run.tenant, run.alias or "default", db_config):
                    connection = opened[0] if opened else stack.enter_context(engine.connect())
                    try:
                        upgrade(db_config["URL"], connection)
                    except Exception as exc:
                        if run.step is None and self.scripts.ini is None:
                            raise EnvironmentFailedError(
                                f"env.py failed before any revision: {one_line_error(exc)} (it ran with no "
                                "ini file, as only SCRIPT_LOCATION is set; if env.py reads one, e.g. "
                                "fileConfig(config.config_file_name), set ALEMBIC_INI)"
                            ) from exc
                        if run.step is None:
                            raise
                        heads = upgrade.database_heads(connection)
                        left = (
                            f" (database left at {', '.join(heads) or 'base'})" if heads is not None else ""
                        )
                        raise RevisionFailedError(
                            f"revision {run.step} failed: {one_line_error(exc)}{left}"
                        ) from exc
        finally:
            engine.dispose()
