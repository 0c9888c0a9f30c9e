"""Every configuration problem: exit 3, one line naming what is at fault, no database touched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test.utils import override_settings
from support.sites import TenantSite

from tenant_router.config.loader import load_config
from tenant_router.errors import ConfigurationError
from tenant_router_cli.exit_codes import ExitCode

DJANGO = "tenant_router.orm_backends.django_orm.manager.DjangoOrmManager"
GOOD = {"django_orm": {"OPTIONS": {"RESERVED_CONN_ALIASES": ["central"]}}}


def orm(**entry: Any) -> dict[str, Any]:
    return {"django_orm": entry}


SETTINGS_CASES = [
    ({"TENANT_ROUTER_SERVICE_NAME": None}, "TENANT_ROUTER_SERVICE_NAME is not set", "E001"),
    (
        {"TENANT_ROUTER_ORM_SETTINGS": ["django_orm"]},
        "TENANT_ROUTER_ORM_SETTINGS must be a non-empty dict",
        "E002",
    ),
    ({"TENANT_ROUTER_ORM_SETTINGS": orm(MANGER=DJANGO)}, "has unknown key 'MANGER'", "E002"),
    (
        {"TENANT_ROUTER_ORM_SETTINGS": orm(MANAGER="nope.Manager")},
        "['MANAGER'] = 'nope.Manager' cannot be imported",
        "E003",
    ),
    ({"TENANT_ROUTER_ORM_SETTINGS": orm(MANAGER="json.JSONDecoder")}, "is not a subclass of", "E003"),
    (
        {"TENANT_ROUTER_ORM_SETTINGS": {"mystery_orm": {}}},
        "TENANT_ROUTER_ORM_SETTINGS['mystery_orm']['MANAGER'] is missing",
        "E003",
    ),
    (
        {"TENANT_ROUTER_ORM_SETTINGS": orm(OPTIONS={"MIGRATION_ASST": {"OPTIONS": {}}})},
        "['MIGRATION_ASST']['CLASS'] is missing",
        "E004",
    ),
    (
        {"TENANT_ROUTER_ORM_SETTINGS": orm(OPTIONS={"MIGRATION_ASST": {"CLASS": "custom_assts.Nope"}})},
        "['CLASS'] = 'custom_assts.Nope' cannot be imported",
        "E004",
    ),
    (
        {"TENANT_ROUTER_ORM_SETTINGS": orm(SETTINGS_KEY="NO_SUCH_SETTING")},
        "names setting 'NO_SUCH_SETTING', which is not defined",
        "E005",
    ),
    (
        {"TENANT_ROUTER_ORM_SETTINGS": orm(OPTIONS={"RESERVED_CONN_ALIASES": ["centrall"]})},
        "RESERVED_CONN_ALIASES'] names 'centrall', which is not an alias of DATABASES",
        "E006",
    ),
    (
        {
            "TENANT_ROUTER_ORM_SETTINGS": orm(
                OPTIONS={"ROUTER_OPTS": {"MIGRATE_STRATEGY": "clinic.routing.nope"}}
            )
        },
        "['MIGRATE_STRATEGY'] = 'clinic.routing.nope' cannot be imported",
        "E009",
    ),
    (
        {"TENANT_ROUTER_TENANT_CONFIG": "/nonexistent/tenants.json"},
        "Tenant configuration file '/nonexistent/tenants.json' cannot be read",
        "E007",
    ),
    (
        {"TENANT_ROUTER_TENANT_CONFIG": "custom_assts.broken_source"},
        "callable 'custom_assts.broken_source' raised OSError: tenant service down",
        "E007",
    ),
]


@pytest.mark.parametrize(("overrides", "message", "check_id"), SETTINGS_CASES)
def test_invalid_settings_exit_3_with_one_line(
    site: TenantSite, overrides: dict, message: str, check_id: str
) -> None:
    with override_settings(**overrides):
        result = site.invoke("migrate", "--settings", site.settings_module)
        with pytest.raises(ConfigurationError) as info:
            load_config()

    assert result.exit_code == ExitCode.CONFIG, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert all(line.startswith(("error: ", "hint: ")) for line in lines)
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert info.value.check_id == check_id
    assert not any(db.table_names() for db in site.databases)


TENANT_CASES = [
    ("{not json", "is not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
    ('{"tenants": {}}', 'has no "tenant_config" object at its top level'),
    ('{"tenant_config": {"t1": ["x"]}}', "tenant 't1' must map service names to objects"),
    (
        '{"tenant_config": {"t1": {"clinic": {"orm_config": {"django_orm": {"replica": {}}}}}}}',
        "configures alias 'replica', which is not a template alias",
    ),
    (
        '{"tenant_config": {"t1": {"clinic": {"orm_config": {"django_orm": {"central": {}}}}}}}',
        "configures alias 'central', which is not a template alias",
    ),
    (
        '{"tenant_config": {"t1": {"clinic": {"orm_config": {"other_orm": {"default": {}}}}}}}',
        "configures ORM 'other_orm', which TENANT_ROUTER_ORM_SETTINGS does not define",
    ),
    (
        '{"tenant_config": {"t1": {"clinic": {"orm_config": {"django_orm": {"default": {"NAEM": "x"}}}}}}}',
        "tenant 't1', django_orm.default has unknown key 'NAEM'",
    ),
    (
        '{"tenant_config": {"t1": {"clinic": {"orm_config": {"django_orm": {"default": {"URL": "nosuchdb://u:sekret-pw@h/db"}}}}}}}',
        "tenant 't1', django_orm.default has an unusable URL 'nosuchdb://u:***@h/db'",
    ),
]


@pytest.mark.parametrize(("document", "message"), TENANT_CASES)
def test_invalid_tenant_configuration_exit_3(site: TenantSite, document: str, message: str) -> None:
    path = site.tmp / "bad.json"
    path.write_text(document)
    with override_settings(TENANT_ROUTER_TENANT_CONFIG=str(path)):
        result = site.invoke("migrate", "--settings", site.settings_module)

    assert result.exit_code == ExitCode.CONFIG, result.output
    assert message in result.stderr.splitlines()[0], result.stderr
    assert str(path) in result.stderr or "t1" in result.stderr
    assert "sekret-pw" not in result.stderr


def test_settings_module_that_does_not_import_exit_3(site: TenantSite) -> None:
    result = site.invoke("migrate", "--settings", "no_such_project.settings")

    assert result.exit_code == ExitCode.CONFIG
    assert "Django is already configured" in result.stderr or "cannot be imported" in result.stderr


def test_traceback_only_when_asked(site: TenantSite) -> None:
    with override_settings(TENANT_ROUTER_TENANT_CONFIG="/nonexistent/tenants.json"):
        plain = site.invoke("migrate", "--settings", site.settings_module)
        traced = site.invoke("migrate", "--settings", site.settings_module, "--traceback")

    assert "Traceback" not in plain.stderr
    assert "Traceback (most recent call last)" in traced.stderr
    assert traced.exit_code == ExitCode.CONFIG


def test_tenant_config_from_a_callable(site: TenantSite) -> None:
    with override_settings(TENANT_ROUTER_TENANT_CONFIG="custom_assts.tenants_from_code"):
        assert load_config().tenant_ids() == ["code-1"]


def test_manage_py_check_agrees_with_the_cli(site: TenantSite) -> None:
    call_command("check")  # the valid configuration passes
    with (
        override_settings(TENANT_ROUTER_ORM_SETTINGS=orm(MANAGER="nope.Manager")),
        pytest.raises(SystemCheckError, match=r"tenant_router\.E003"),
    ):
        call_command("check")


def test_check_warns_when_the_router_is_missing(site: TenantSite) -> None:
    from tenant_router.checks import check_configuration

    with override_settings(DATABASE_ROUTERS=[]):
        assert [m.id for m in check_configuration()] == ["tenant_router.W001"]


def test_json_mode_reports_configuration_errors_as_json(site: TenantSite) -> None:
    with override_settings(TENANT_ROUTER_TENANT_CONFIG="/nonexistent/tenants.json"):
        result = site.invoke("migrate", "--settings", site.settings_module, "--json")

    assert result.exit_code == ExitCode.CONFIG
    error = json.loads(result.stdout)
    assert error["event"] == "error" and error["exit_code"] == 3
