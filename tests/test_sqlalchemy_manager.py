"""SqlAlchemyOrmManager as a library: URLs per tenant, validation, engines and sessions per bound tenant.

In-process, with a plain settings object handed to load_config() (Django's settings are not touched).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from tenant_router.config.loader import load_config
from tenant_router.config.model import RouterConfig
from tenant_router.context import tenant_context_bind
from tenant_router.errors import ConfigurationError
from tenant_router.orm_backends.sqlalchemy_orm.manager import SqlAlchemyOrmManager, TenantNotBoundError

TEMPLATE = {"URL": "postgresql+psycopg://app:s3cret-pw@db.internal:5432/template", "ENGINE_OPTIONS": {}}


def config_for(
    tmp_path: Path, entries: dict[str, Any], template: dict[str, Any] | None = None
) -> RouterConfig:
    """A RouterConfig with one sqlalchemy_orm ORM; `entries` maps tenant -> its `default` entry."""
    tenants = {t: {"svc": {"orm_config": {"sqlalchemy_orm": {"default": e}}}} for t, e in entries.items()}
    path = tmp_path / "conf" / "tenants.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"tenant_config": tenants}))
    settings = SimpleNamespace(
        TENANT_ROUTER_SERVICE_NAME="svc",
        TENANT_ROUTER_TENANT_CONFIG=str(path),
        TENANT_ROUTER_ORM_SETTINGS={"sqlalchemy_orm": {}},
        SQLALCHEMY_DATABASES={"default": template or TEMPLATE},
    )
    return load_config(settings)


def manager_of(config: RouterConfig) -> SqlAlchemyOrmManager:
    manager = config.manager("sqlalchemy_orm")
    assert isinstance(manager, SqlAlchemyOrmManager)
    return manager


def test_parts_merge_over_the_template_url(tmp_path: Path) -> None:
    manager = manager_of(config_for(tmp_path, {"t1": {"DATABASE": "tenant_1"}, "t2": {"URL": "sqlite://"}}))

    url = manager.url("t1", "default")
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "app",
        "s3cret-pw",
        "db.internal",
        5432,
        "tenant_1",
    )
    assert manager.url("t2", "default").render_as_string() == "sqlite://"
    assert (
        manager.describe_database("t1", "default") == "postgresql+psycopg://app:***@db.internal:5432/tenant_1"
    )


def test_relative_sqlite_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    manager = manager_of(
        config_for(
            tmp_path,
            {
                "rel": {"URL": "sqlite:///var/t.sqlite3"},
                "abs": {"URL": f"sqlite:///{tmp_path / 'a.sqlite3'}"},
                "mem": {"URL": "sqlite:///:memory:"},
            },
        )
    )

    assert manager.url("rel", "default").database == str(tmp_path / "conf" / "var" / "t.sqlite3")
    assert manager.url("abs", "default").database == str(tmp_path / "a.sqlite3")
    assert manager.url("mem", "default").database == ":memory:"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"URL": "postgresql://u:s3cret-pw@h:notaport/db"}, "unusable URL"),
        ({"URL": "not a url at all, s3cret-pw"}, "unusable URL"),
        ({"NAME": "x"}, "unknown key 'NAME'"),
        ({"URL": "sqlite://", "ENGINE_OPTIONS": "echo"}, "ENGINE_OPTIONS"),
    ],
)
def test_bad_entries_name_tenant_and_alias_and_hide_passwords(
    tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        config_for(tmp_path, {"t1": {"URL": "sqlite://"}, "t9": entry})

    assert "tenant 't9', sqlalchemy_orm.default" in caught.value.message
    assert message in caught.value.message
    assert "s3cret-pw" not in caught.value.message


def test_engines_and_sessions_follow_the_bound_tenant(tmp_path: Path) -> None:
    urls = {t: f"sqlite:///{tmp_path / f'{t}.sqlite3'}" for t in ("t1", "t2")}
    manager = manager_of(config_for(tmp_path, {t: {"URL": u} for t, u in urls.items()}))

    with tenant_context_bind("t1"):
        engine = manager.engine()
        assert manager.engine() is engine
        with manager.session() as session:
            assert session.get_bind() is engine
            session.execute(sa.text("CREATE TABLE note (body TEXT)"))
            session.execute(sa.text("INSERT INTO note VALUES ('for t1')"))
            session.commit()
    with tenant_context_bind("t2"):
        assert manager.engine() is not engine
        assert not sa.inspect(manager.engine()).has_table("note")
    assert manager.engine(tenant="t1") is engine
    with pytest.raises(TenantNotBoundError):
        manager.engine()

    manager.close()

    with tenant_context_bind("t1"):
        assert manager.engine() is not engine  # created again after close()
        with manager.session() as session:
            assert session.execute(sa.text("SELECT body FROM note")).scalar_one() == "for t1"
    manager.close()


def test_unknown_tenant_is_a_configuration_error(tmp_path: Path) -> None:
    manager = manager_of(config_for(tmp_path, {"t1": {"URL": "sqlite://"}}))

    with (
        tenant_context_bind("nobody"),
        pytest.raises(ConfigurationError, match=r"no sqlalchemy_orm\.default"),
    ):
        manager.session()
