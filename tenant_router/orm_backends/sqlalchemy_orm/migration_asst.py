"""AlembicMigrationAsst: `alembic upgrade heads` per tenant database, through the project's own env.py.

How one database is upgraded (env.py run unchanged, each revision reported) is upgrade.py.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from ...errors import TenantRouterError, UsageError
from ...preflight import BookkeepingRead
from ...record.orm_report import DatabaseRun
from ...record.report import one_line_error
from ...safety.sessions import opened
from ..base import BaseOrmMigrationAsst, Capabilities
from .manager import SqlAlchemyOrmManager
from .preflight import bookkeeping_read
from .scratch import build_template, migrate_scratch, scratch_url, template_digest
from .scripts import AlembicScripts, settings_base_dir
from .upgrade import ALEMBIC_LOCK, AlembicUpgrade, EnvPyError, reporting_environment

# AlembicUpgrade, EnvPyError, ALEMBIC_LOCK and reporting_environment live in upgrade.py now.
__all__ = [
    "ALEMBIC_LOCK",
    "AlembicMigrationAsst",
    "AlembicUpgrade",
    "EnvPyError",
    "EnvironmentFailedError",
    "RevisionFailedError",
    "reporting_environment",
]


class EnvironmentFailedError(TenantRouterError):
    """The Alembic environment (env.py) failed before any revision ran."""


class RevisionFailedError(TenantRouterError):
    """An Alembic revision raised; the message names it and where the database was left."""


def _note_session(dbapi_connection: Any, connection_record: Any) -> None:
    """Every PostgreSQL connection a database's run opens is noted: an aborted run ends its backend."""
    opened(dbapi_connection)


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
        if not event.contains(Engine, "connect", _note_session):  # env.py's own engine included
            event.listen(Engine, "connect", _note_session)
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

    capabilities = Capabilities(inspects=True)  # per database; the pre-flight reads VERSION_TABLE
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

    def schema_digest(self) -> str:
        """The contents of every revision file and of env.py, the ini file, the versions, the options."""
        # ALEMBIC_INI and SCRIPT_LOCATION say where the files are (their contents are in the digest):
        # the same release deployed in another folder is the same code
        where = ("ALEMBIC_INI", "SCRIPT_LOCATION")
        return template_digest(
            self.scripts, repr(sorted(i for i in self.options.items() if i[0] not in where))
        )

    def build_template(self, db_config: dict[str, Any], alias: str) -> None:
        """`alembic upgrade heads` on the empty template database."""
        build_template(self, db_config)

    def scratch_config(
        self, db_config: dict[str, Any], name: str | None, overrides: dict[str, Any]
    ) -> dict[str, Any]:
        """Drift: the same URL naming another database, with the scratch connection overrides."""
        return {**db_config, "URL": scratch_url(db_config["URL"], name, overrides)}

    def migrate_scratch(
        self, db_config: dict[str, Any], alias: str, reserved: bool, applied: tuple[tuple[str, ...], ...]
    ) -> None:
        """Drift: `alembic upgrade` the empty scratch database to the tenant's revision."""
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
