"""Issue 20, hostile and odd input: items 6, 7, 8, 10 and the option suggestions of 18.

6: a tenant configuration that is not UTF-8, or repeats a key, is exit 3 in one line naming the file.
7: every option is checked the same way in every mode (migrate, --plan, --check, create): exit 2.
8: `--tenant @file` with a line of millions of characters ends promptly; ids are shortened in messages.
10: a SQLite `file:` URI name is relative to the tenant configuration's folder, like a plain name.
18: an unknown option suggests only options that are close to it, or none.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test.utils import override_settings
from support.clinic import clinic_copy
from support.processes import CLI, run
from support.sites import Database, TenantSite, activate

from tenant_router.safety.locks import database_lock
from tenant_router_cli.exit_codes import ExitCode

# -- item 6: a tenant configuration that is not UTF-8, or repeats a key --------------------------------

ONE_TENANT = '"t1": {"clinic": {"orm_config": {"django_orm": {"default": {"NAME": "t1.sqlite3"}}}}}'
NOT_UTF8 = [
    pytest.param(b"\xff\xfe{", id="utf16-bom"),
    pytest.param(('{"tenant_config": {"caf\xe9": {}}}').encode("latin-1"), id="latin1-id"),
]
DUPLICATES = [
    pytest.param('{"tenant_config": {' + ONE_TENANT + '}, "tenant_config": {}}', "'tenant_config'", id="top"),
    pytest.param(
        '{"tenant_config": {"t1": {"clinic": {"orm_config": {'
        '"django_orm": {"default": {"NAME": "a.sqlite3"}}, '
        '"django_orm": {"default": {"NAME": "b.sqlite3"}}}}}}}',
        "'django_orm'",
        id="nested",
    ),
]


def bad_config(site: TenantSite, command: str, content: bytes) -> tuple[Path, object]:
    path = site.tmp / "bad-config.json"
    path.write_bytes(content)
    with override_settings(TENANT_ROUTER_TENANT_CONFIG=str(path)):
        return path, site.invoke(command, "--settings", site.settings_module, "--jobs", "1")


def assert_one_config_line(result: object, *names: str) -> None:
    assert result.exit_code == ExitCode.CONFIG, result.output  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    first = stderr.splitlines()[0]
    assert first.startswith("error: ") and all(name in first for name in names), stderr


@pytest.mark.parametrize("content", NOT_UTF8)
@pytest.mark.parametrize("command", ["migrate", "status"])
def test_tenant_config_not_utf8_is_exit_3_naming_the_file(
    site: TenantSite, command: str, content: bytes
) -> None:
    path, result = bad_config(site, command, content)

    assert_one_config_line(result, str(path), "UTF-8")
    assert not any(db.table_names() for db in site.databases)


@pytest.mark.parametrize(("document", "key"), DUPLICATES)
@pytest.mark.parametrize("command", ["migrate", "status"])
def test_duplicate_key_in_tenant_config_is_exit_3_naming_file_and_key(
    site: TenantSite, command: str, document: str, key: str
) -> None:
    path, result = bad_config(site, command, document.encode())

    assert_one_config_line(result, str(path), key, "more than once")
    assert not any(db.table_names() for db in site.databases)
    assert not (site.tmp / "a.sqlite3").exists() and not (site.tmp / "b.sqlite3").exists()


# -- item 7: every option is checked in every mode -------------------------------------------------------

BAD_VALUES = [
    ("--lock-timeout", "nan"),
    ("--lock-timeout", "-1"),
    ("--lock-wait", "-5"),
    ("--lock-wait", "nan"),
    ("--statement-timeout", "inf"),
    ("--lock-retries", "-7"),
    ("--lock-retry-delay", "nan"),
    ("--worker-tasks", "0"),
    ("--worker-max-rss", "-5"),
    ("--worker-max-rss", "nan"),
    ("--canary", "-1"),
    ("--max-failures", "0"),
    ("--max-connections-per-host", "0"),
    ("--jobs", "-1"),
]
MODES = [[], ["--plan"], ["--check"]]


def assert_usage_line(result: object, option: str) -> None:
    assert result.exit_code == ExitCode.USAGE, result.output  # type: ignore[attr-defined]
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert lines and lines[0].startswith("error: ") and option in lines[0], lines
    assert len(lines) <= 2 and "Traceback" not in result.stderr, lines  # type: ignore[attr-defined]


@pytest.mark.parametrize(("option", "value"), BAD_VALUES)
@pytest.mark.parametrize("mode", MODES, ids=["migrate", "plan", "check"])
def test_bad_option_value_is_exit_2_in_every_mode(
    site: TenantSite, mode: list[str], option: str, value: str
) -> None:
    jobs = [] if option == "--jobs" else ["--jobs", "1"]
    result = site.invoke("migrate", "--settings", site.settings_module, *jobs, *mode, f"{option}={value}")

    assert_usage_line(result, option)
    assert not any(db.path and db.path.exists() for db in site.databases)


@pytest.mark.parametrize(("option", "value"), [("--lock-timeout", "nan"), ("--jobs", "-1")])
def test_bad_option_value_is_exit_2_for_create(site: TenantSite, option: str, value: str) -> None:
    result = site.invoke("create", "tenant-1", "--settings", site.settings_module, f"{option}={value}")

    assert_usage_line(result, option)
    assert not any(db.path and db.path.exists() for db in site.databases)


# -- item 8: a tenant list with a line of millions of characters -----------------------------------------


def tenant_list(tmp_path: Path, line: str) -> tuple[Path, list[str]]:
    example = clinic_copy(tmp_path)
    listing = tmp_path / "tenants.txt"
    listing.write_text(f"tenant-1\n{line}\n", encoding="utf-8")
    args = [*CLI, "status", "--settings", "clinic.settings", "--pythonpath", str(example)]
    return example, [*args, "--tenant", f"@{listing}"]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        pytest.param("x" * 2_000_000, "Unknown tenant", id="id"),
        pytest.param("x*" * 1_000_000, "matches no tenant", id="glob"),
    ],
)
def test_two_million_character_line_is_refused_in_one_short_line(
    tmp_path: Path, line: str, says: str
) -> None:
    example, args = tenant_list(tmp_path, line)
    result = run(args, example, timeout=60)  # a hang guard: the quadratic version ran for minutes

    assert result.returncode == ExitCode.USAGE, result.stderr[-500:]
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ") and says in first and len(first) < 200, first[:500]
    assert "…" in first and "2,000,000 characters" in first, first
    assert len(result.stderr) < 1000


def test_control_characters_of_an_id_are_escaped_in_messages(tmp_path: Path) -> None:
    example, args = tenant_list(tmp_path, "evil\x1b[2J\x07id")
    result = run(args, example)

    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "evil\\x1b[2J\\x07id" in result.stderr.splitlines()[0]


def test_long_tenant_id_in_a_configuration_error_is_shortened(site: TenantSite) -> None:
    tenant = "a" * 50 + "\x1b" + "z" * 100_000
    path, result = bad_config(site, "status", json.dumps({"tenant_config": {tenant: 5}}).encode())

    assert_one_config_line(result, str(path), "'aaaaaaaaaa", "zzz' (100,051 characters)")
    line = result.stderr.splitlines()[0]  # type: ignore[attr-defined]
    assert len(line.replace(str(path), "")) < 200  # the id is shortened (the path is the test's own)
    assert "\x1b" not in result.stderr  # type: ignore[attr-defined]


# -- item 10: a SQLite file: URI name is relative to the configuration's folder --------------------------


@pytest.fixture
def uri_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """One tenant named by a relative `file:` URI; the tests run from another folder."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    site = TenantSite(tmp_path)
    entry = {"NAME": "file:u2.sqlite3?mode=rwc", "OPTIONS": {"uri": True}}
    site.databases.append(Database("u2", entry, path=tmp_path / "u2.sqlite3"))
    yield from activate(site)


def test_django_file_uri_name_is_relative_to_the_configuration(uri_site: TenantSite) -> None:
    result = uri_site.invoke("migrate", "--settings", uri_site.settings_module, "--jobs", "1")

    assert result.exit_code == ExitCode.OK, result.output
    assert "django_migrations" in uri_site.databases[0].table_names()
    assert not (uri_site.tmp / "elsewhere" / "u2.sqlite3").exists()


def test_file_uri_and_plain_path_share_one_run_lock(uri_site: TenantSite) -> None:
    plain = uri_site.tmp / "u2.sqlite3"  # the same physical database, named as a plain path
    with database_lock(f"sqlite:{plain}", lambda: None, 0) as held:
        assert held
        result = uri_site.invoke("migrate", "--settings", uri_site.settings_module, "--jobs", "1")

    assert result.exit_code == ExitCode.LOCKED, result.output
    assert not uri_site.databases[0].table_names()
    assert not (uri_site.tmp / "elsewhere" / "u2.sqlite3").exists()


def test_sqlalchemy_file_uri_name_is_relative_to_the_configuration(tmp_path: Path) -> None:
    from support.sqlalchemy_sites import make_site, version

    root = tmp_path / "project"
    site = make_site(
        root,
        {"t1": "sqlite:///file:sa-u2.sqlite3?mode=rwc&uri=true"},
        django=False,
        extra_settings='TENANT_ROUTER_TENANT_CONFIG = BASE_DIR / "conf" / "tenant_config.json"',
    )
    (root / "conf").mkdir()
    (root / "tenant_config.json").rename(root / "conf" / "tenant_config.json")
    result = site.run("migrate", "--jobs", "1")

    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    assert version(f"sqlite:///{root / 'conf' / 'sa-u2.sqlite3'}") == ["c3000000003c"]
    assert not (root / "sa-u2.sqlite3").exists()


# -- item 18 (second half): only close options are suggested ---------------------------------------------


def cli(*args: str) -> object:
    from typer.testing import CliRunner

    from tenant_router_cli.app import app

    return CliRunner().invoke(app, list(args))


def test_unknown_option_far_from_every_option_suggests_none() -> None:
    result = cli("migrate", "--bogus")

    assert result.exit_code == ExitCode.USAGE  # type: ignore[attr-defined]
    text = result.stderr  # type: ignore[attr-defined]
    assert "No such option: --bogus" in text
    assert "--jobs" not in text and "--verbose" not in text and "Possible" not in text, text


@pytest.mark.parametrize(
    ("command", "typo", "suggested"),
    [
        ("migrate", "--jbos", ["--jobs"]),
        ("migrate", "--verbos", ["--verbose"]),
        ("status", "--tenat", ["--tenant", "--tenants"]),
        ("migrate", "--lock-wiat", ["--lock-wait"]),
    ],
)
def test_unknown_option_close_to_some_suggests_only_those(
    command: str, typo: str, suggested: list[str]
) -> None:
    result = cli(command, typo)

    assert result.exit_code == ExitCode.USAGE  # type: ignore[attr-defined]
    line = next(x for x in result.stderr.splitlines() if "No such option" in x)  # type: ignore[attr-defined]
    assert sorted(re.findall(r"--[\w-]+", line)[1:]) == suggested, line


def test_tenant_config_with_a_utf8_byte_order_mark_is_read(site: TenantSite) -> None:
    path = site.tmp / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + site.write().read_bytes())  # as some editors save UTF-8
    with override_settings(TENANT_ROUTER_TENANT_CONFIG=str(path)):
        result = site.invoke("status", "--settings", site.settings_module, "--jobs", "1", "--tenants")

    assert result.exit_code == ExitCode.OK, result.output
    assert all(db.tenant in result.stdout for db in site.databases), result.stdout
