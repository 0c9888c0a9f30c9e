"""One `alembic upgrade` of one database through the project's own env.py, reported step by step.

The Alembic Config gets `sqlalchemy.url` set and an open connection in `config.attributes["connection"]`;
env.py runs unchanged inside an EnvironmentContext whose `configure()` adds our `on_version_apply`
callback to the env.py's own, and whose migration function reports the plan and each revision as it
starts. So both env.py styles work: the one that builds its engine from `sqlalchemy.url` and the
cookbook one that uses the connection it is given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationInfo, RevisionStep
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection

from ...errors import TenantRouterError
from ...record.orm_report import DatabaseRun
from ...safety.lockwait import StepGuard, StepLimits
from .lending import lend_connection
from .scripts import BACKWARDS, AlembicScripts, revision_id, steps_to

#: Alembic's `context` and `op` are process-wide proxies: one upgrade at a time per process.
ALEMBIC_LOCK = threading.RLock()

OnVersionApply = Callable[..., None]


class EnvPyError(TenantRouterError):
    """env.py finished without running the migrations it was asked to run."""


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
        with ALEMBIC_LOCK, lend_connection(connection, url):  # the stock env.py connects again
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
