"""Issue 11 items 6 and 13: exact ids that look like globs, and tenant configurations of the wrong shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test.utils import override_settings
from support.sites import Database, TenantSite, activate

from tenant_router.run.selection import select_tenants
from tenant_router_cli.exit_codes import ExitCode

# -- item 6: an exact id is itself, even with [ * ? in it -------------------------------------------------


def glob_site(tmp: Path, ids: list[str]) -> TenantSite:
    site = TenantSite(tmp)
    for i, tenant in enumerate(ids):
        path = tmp / f"db{i}.sqlite3"
        site.databases.append(Database(tenant, {"NAME": path.name}, path=path))
    return site


@pytest.fixture
def glob_ids(tmp_path: Path):  # type: ignore[no-untyped-def]
    yield from activate(glob_site(tmp_path, ["t1", "t[1]", "t*", "t?", "tx"]))


def migrated(site: TenantSite) -> set[str]:
    return {db.tenant for db in site.databases if db.table_names()}


def test_exact_id_with_brackets_selects_itself_not_the_glob_match(glob_ids: TenantSite) -> None:
    result = glob_ids.invoke("migrate", "--settings", glob_ids.settings_module, "--tenant", "t[1]")

    assert result.exit_code == ExitCode.OK, result.output
    assert migrated(glob_ids) == {"t[1]"}


def test_exact_id_with_brackets_is_excluded_itself(glob_ids: TenantSite) -> None:
    result = glob_ids.invoke("migrate", "--settings", glob_ids.settings_module, "--exclude", "t[1]")

    assert result.exit_code == ExitCode.OK, result.output
    assert migrated(glob_ids) == {"t1", "t*", "t?", "tx"}


def test_exact_ids_with_star_and_question_mark() -> None:
    ids = ["t1", "t[1]", "t*", "t?", "tx"]
    assert select_tenants(ids, ["t*"]) == ["t*"]
    assert select_tenants(ids, ["t?"]) == ["t?"]
    assert select_tenants(ids, exclude=["t*"]) == ["t1", "t[1]", "t?", "tx"]
    # A pattern that is not an id still globs: `[[]` is a literal `[`.
    assert select_tenants(ids, ["t[[]*"]) == ["t[1]"]
    assert select_tenants(ids, ["?x"]) == ["tx"]


def test_help_says_how_to_write_a_pattern() -> None:
    from typer.testing import CliRunner

    from tenant_router_cli.app import app

    result = CliRunner().invoke(app, ["migrate", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.stdout.split())
    assert "an exact id always matches itself" in text.lower()
    assert "[[]" in text


# -- item 13 (part): every bad tenant configuration is exit 3 with one line naming tenant and key ------

DEEP = '{"a":' * 5000 + "1" + "}" * 5000
MIDDLE = '{"a":' * 300 + "1" + "}" * 300


def entry(value: str) -> str:
    return (
        '{"tenant_config": {"t1": {"clinic": {"orm_config": {"django_orm": {"default": VALUE}}}}}}'.replace(
            "VALUE", value
        )
    )


BAD_DOCUMENTS = [
    ('{"tenant_config": {"t1": ' + DEEP + "}}", "tenant_config.t1.a.a.a", "nested more than"),
    (entry('{"NAME": "x.sqlite3", "OPTIONS": ' + DEEP + "}"), "t1", "nested more than"),
    (entry('{"NAME": "x.sqlite3", "OPTIONS": ' + MIDDLE + "}"), "tenant 't1'", "nested more than"),
    (entry("5"), "tenant 't1', django_orm.default", "must be an object"),
    (entry("[1]"), "tenant 't1', django_orm.default", "must be an object"),
    (entry('"x"'), "tenant 't1', django_orm.default", "must be an object"),
    (entry('{"NAME": 5}'), "tenant 't1', django_orm.default['NAME']", "must be a string"),
    (
        entry('{"NAME": "x", "OPTIONS": [1]}'),
        "tenant 't1', django_orm.default['OPTIONS']",
        "must be an object",
    ),
    (entry('{"NAME": "x", "PORT": [1]}'), "tenant 't1', django_orm.default['PORT']", "must be"),
    ('{"tenant_config": {"t1": 5}}', "tenant 't1'", "must map service names to objects"),
    ('{"tenant_config": {"t1": "x"}}', "tenant 't1'", "must map service names to objects"),
    ('{"tenant_config": {"t1": {"clinic": {"orm_config": {"django_orm": 5}}}}}', "tenant 't1'", "orm_config"),
]


@pytest.mark.parametrize(("document", "names", "says"), BAD_DOCUMENTS)
@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_bad_tenant_entry_is_exit_3_in_one_line(
    site: TenantSite, document: str, names: str, says: str, extra: list[str]
) -> None:
    path = site.tmp / "bad.json"
    path.write_text(document)
    with override_settings(TENANT_ROUTER_TENANT_CONFIG=str(path)):
        result = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1", *extra)

    assert result.exit_code == ExitCode.CONFIG, result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ") and names in first and says in first, result.stderr
    assert len(first) < 400
    assert "Traceback" not in result.stderr
    if extra:
        assert json.loads(result.stdout.splitlines()[-1])["exit_code"] == ExitCode.CONFIG
    assert not any(db.table_names() for db in site.databases)


def test_deep_document_from_a_callable_is_exit_3(site: TenantSite) -> None:
    deep: dict = {"NAME": "x.sqlite3"}
    node = deep.setdefault("OPTIONS", {})
    for _ in range(2000):
        node = node.setdefault("a", {})
    document = {"tenant_config": {"t1": {"clinic": {"orm_config": {"django_orm": {"default": deep}}}}}}
    with override_settings(TENANT_ROUTER_TENANT_CONFIG=document):
        result = site.invoke("status", "--settings", site.settings_module)

    assert result.exit_code == ExitCode.CONFIG, result.output
    assert "tenant 't1'" in result.stderr and "nested more than" in result.stderr
