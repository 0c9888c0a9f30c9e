"""The Alembic cookbook's "sharing a connection": use config.attributes["connection"] when present."""

from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)


def remember(*, ctx, step, heads, run_args) -> None:  # type: ignore[no-untyped-def]
    """env.py's own on_version_apply (tenant-router must chain it, not replace it): logs to a file."""
    with open(Path(__file__).with_name("applied.log"), "a", encoding="utf-8") as log:
        log.write(f"{step.up_revision_id}\n")


def run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    """Migrate on `connection`."""
    context.configure(connection=connection, target_metadata=None, on_version_apply=[remember])
    with context.begin_transaction():
        context.run_migrations()


connectable = config.attributes.get("connection", None)
if connectable is None:
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        run_migrations(connection)
else:
    run_migrations(connectable)
