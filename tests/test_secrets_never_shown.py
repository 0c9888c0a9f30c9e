"""Issue 11 item 4: a password that is not URL-encoded never shows, in any output mode, for both ORMs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from django.test.utils import override_settings
from support.sites import TenantSite
from support.sqlalchemy_sites import SA_ASST

from tenant_router.safety.redact import Redactor, mask_url
from tenant_router_cli.exit_codes import ExitCode

# Raw (not URL-encoded) passwords: `@`, `%`, `:`, `/`, quotes, backslash, non-ASCII.
PASSWORDS = [
    "p@ss:w/rd%",
    "q'u\"o\\te@x:/",
    "pässwörd@ünï:/%",
    "%41%zz@@x",
]
SA_ORMS = {
    "django_orm": {
        "OPTIONS": {
            "RESERVED_CONN_ALIASES": ["central"],
            "ROUTER_OPTS": {"MIGRATE_STRATEGY": "clinic.routing.migrate_strategy"},
        }
    },
    "sqlalchemy_orm": {
        "OPTIONS": {"MIGRATION_ASST": {"CLASS": SA_ASST, "OPTIONS": {"SCRIPT_LOCATION": "unused"}}}
    },
}


def forms(secret: str) -> set[str]:
    """Every way a password could be written out: raw, URL-encoded, JSON- and repr-escaped, fragments."""
    found = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
    }
    return found


def leaks(secret: str) -> set[str]:
    """forms(), plus the parts after the password's `@`s (what leaked before the fix)."""
    return forms(secret) | {part for part in secret.split("@")[1:] if len(part) >= 3}


def assert_hidden(text: str, secret: str) -> None:
    for form in leaks(secret):
        assert form not in text, (form, text)


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("mode", [[], ["--json"], ["--traceback"], ["--json", "--traceback"]])
def test_django_url_password_is_hidden(site: TenantSite, password: str, mode: list[str]) -> None:
    """dj-database-url refuses some of these URLs (exit 3) and misreads others (a failed database)."""
    url = f"postgres://app:{password}@127.0.0.1:1/tenant_x"
    site.extra_tenants = {"bad": {"clinic": {"orm_config": {"django_orm": {"default": {"URL": url}}}}}}

    result = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1", *mode)

    assert result.exit_code in (ExitCode.CONFIG, ExitCode.FAILED), result.output
    assert_hidden(result.stdout + result.stderr, password)
    if result.exit_code == ExitCode.CONFIG:
        assert "tenant 'bad', django_orm.default" in result.stderr
        assert "app:***@127.0.0.1:1/tenant_x" in result.stderr
    if "--json" in mode:
        assert json.loads(result.stdout.splitlines()[-1])["event"] in ("error", "report")


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("mode", [[], ["--json"], ["--traceback"]])
def test_sqlalchemy_url_password_is_hidden(site: TenantSite, password: str, mode: list[str]) -> None:
    url = f"postgresql+psycopg://app:{password}@127.0.0.1:5x/tenant_x"  # bad port: exit 3
    site.extra_tenants = {"bad": {"clinic": {"orm_config": {"sqlalchemy_orm": {"default": {"URL": url}}}}}}
    templates = {"default": {"URL": "sqlite:///unused.sqlite3"}}
    with override_settings(TENANT_ROUTER_ORM_SETTINGS=SA_ORMS, SQLALCHEMY_DATABASES=templates):
        result = site.invoke("migrate", "--settings", site.settings_module, *mode)

    assert result.exit_code == ExitCode.CONFIG, result.output
    assert "tenant 'bad', sqlalchemy_orm.default" in result.stderr
    assert_hidden(result.stdout + result.stderr, password)


@pytest.mark.parametrize("password", PASSWORDS)
def test_password_of_a_reachable_url_is_hidden_in_every_failure_line(tmp_path: Path, password: str) -> None:
    """A URL that parses but points nowhere: the failure rows and the JSON report hide the password."""
    from support.sites import activate, sqlite_site

    site = sqlite_site(tmp_path, 1)
    url = f"postgres://app:{quote(password, safe='')}@127.0.0.1:1/nowhere"
    site.extra_tenants = {"far": {"clinic": {"orm_config": {"django_orm": {"default": {"URL": url}}}}}}
    gen = activate(site)
    next(gen)
    try:
        outputs: list[Any] = [
            site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1", *mode)
            for mode in ([], ["--json"], ["--traceback"])
        ]
    finally:
        next(gen, None)
    for result in outputs:
        assert result.exit_code == ExitCode.FAILED, result.output
        assert_hidden(result.stdout + result.stderr, password)
    report = json.loads(outputs[1].stdout.splitlines()[-1])
    assert report["event"] == "report"


@pytest.mark.parametrize("password", PASSWORDS)
def test_mask_url_hides_everything_up_to_the_last_at(password: str) -> None:
    for scheme in ("postgres", "mysql", "postgresql+psycopg", "redis"):
        url = f"{scheme}://u:{password}@h:5432/db"
        assert mask_url(url) == f"{scheme}://u:***@h:5432/db"
        text = f"cannot parse '{url}': bad port; also see {url} (twice)"
        masked = Redactor()(text)
        assert masked == text.replace(password, "***"), masked
    json_text = json.dumps({"error": f"see postgres://u:{password}@h/db", "tenant": "x@y.com"})
    shown = Redactor().stream(json_text)
    assert json.loads(shown) == {"error": "see postgres://u:***@h/db", "tenant": "x@y.com"}


def test_known_secret_is_hidden_in_every_escaped_form() -> None:
    redactor = Redactor(PASSWORDS)
    for secret in PASSWORDS:
        for form in forms(secret):
            if len(form) >= 3:
                assert form not in redactor(f"<{form}>"), form
