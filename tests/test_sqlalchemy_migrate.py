"""`tenant-router migrate` with the SQLAlchemy + Alembic backend, as real processes on real databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from support.describe import schema
from support.servers import MYSQL, POSTGRES, require
from support.sqlalchemy_sites import (
    BACKENDS,
    HEAD,
    REVISIONS,
    STYLES,
    database_urls,
    execute,
    make_site,
    plain_alembic_upgrade,
    query,
    report_of,
    rows,
    version,
)

TENANTS = ["tenant-1", "tenant-2", "tenant-3"]


def django_tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_tenant_matches_plain_alembic_upgrade(tmp_path: Path, backend: str, style: str) -> None:
    with database_urls(backend, tmp_path, 3) as (url1, url2, reference):
        site = make_site(tmp_path / "site", {"tenant-1": url1, "tenant-2": url2}, style=style)

        result = site.run("migrate", "-v")

        assert result.returncode == 0, result.stdout + result.stderr
        assert "Migrating 4 database(s) of django_orm, sqlalchemy_orm" in result.stdout
        for revision in REVISIONS:
            assert f"sqlalchemy_orm tenant-1/default: applied {revision}" in result.stdout
        plain_alembic_upgrade(tmp_path, style, reference)
        expected = schema(reference)
        assert {"account", "ledger", "alembic_version"} <= set(expected)
        for url in (url1, url2):
            assert version(url) == [HEAD]
            assert schema(url) == expected
            assert query(url, "SELECT name, email FROM account ORDER BY name") == query(
                reference, "SELECT name, email FROM account ORDER BY name"
            )
        for tenant in ("tenant-1", "tenant-2"):  # one run, both ORMs
            assert "django_content_type" in django_tables(site.django_dbs[tenant])
        if style == "connection":  # env.py's own on_version_apply still ran, chained with ours
            log = (site.root / "alembic" / "applied.log").read_text().split()
            assert sorted(log) == sorted(REVISIONS * 2)

        again, lines = site.run_json("migrate")
        assert again.returncode == 0, again.stderr
        sa_rows = rows(report_of(lines), "sqlalchemy_orm")
        assert {r["status"] for r in sa_rows.values()} == {"up_to_date"}
        assert {r["current"] for r in sa_rows.values()} == {HEAD}


@pytest.mark.parametrize("backend", BACKENDS)
def test_failing_revision_stays_with_its_tenant_and_orm(tmp_path: Path, backend: str) -> None:
    with database_urls(backend, tmp_path, 3) as urls:
        execute(urls[1], "CREATE TABLE ledger (id INTEGER PRIMARY KEY)")  # revision b2 will collide
        site = make_site(tmp_path / "site", dict(zip(TENANTS, urls, strict=True)), sa_first=True)

        result = site.run("migrate")

        assert result.returncode == 1, result.stdout + result.stderr
        assert "sqlalchemy_orm tenant-2/default at b2000000002b: RevisionFailedError" in result.stdout
        assert version(urls[0]) == [HEAD]
        assert version(urls[2]) == [HEAD]
        assert version(urls[1]) != [HEAD]
        # The same tenant is still migrated by the next ORM of the run.
        assert "django_content_type" in django_tables(site.django_dbs["tenant-2"])

        again, lines = site.run_json("migrate")
        assert again.returncode == 1
        report = report_of(lines)
        (failure,) = [r for r in report["results"] if r["status"] == "failed"]
        assert (failure["orm"], failure["tenant"], failure["failed_step"]) == (
            "sqlalchemy_orm",
            "tenant-2",
            "b2000000002b",
        )
        assert "revision b2000000002b failed" in failure["error"]
        assert rows(report, "django_orm")["tenant-2"]["status"] == "up_to_date"


def test_fail_fast_stops_the_other_orms_too(tmp_path: Path) -> None:
    with database_urls("sqlite", tmp_path, 2) as urls:
        execute(urls[0], "CREATE TABLE ledger (id INTEGER PRIMARY KEY)")
        site = make_site(tmp_path / "site", {"tenant-1": urls[0], "tenant-2": urls[1]}, sa_first=True)

        result, lines = site.run_json("migrate", "--fail-fast")

        assert result.returncode == 1
        report = report_of(lines)
        assert rows(report, "sqlalchemy_orm")["tenant-1"]["failed_step"] == "b2000000002b"
        # No database of the next ORM starts (tenant-2's Alembic run may overlap tenant-1's under --jobs).
        assert {r["status"] for r in rows(report, "django_orm").values()} == {"not_started"}


def test_tenant_without_sqlalchemy_entry_is_skipped(tmp_path: Path) -> None:
    with database_urls("sqlite", tmp_path, 2) as urls:
        site = make_site(tmp_path / "site", {"tenant-1": urls[0], "tenant-2": urls[1], "tenant-3": None})

        result = site.run("migrate")
        _, lines = site.run_json("migrate")

        assert result.returncode == 0, result.stderr
        assert "sqlalchemy_orm tenant-3/default: skipped (no sqlalchemy_orm.default entry)" in result.stdout
        sa_rows = rows(report_of(lines), "sqlalchemy_orm")
        assert sa_rows["tenant-3"]["status"] == "skipped"
        assert rows(report_of(lines), "django_orm")["tenant-3"]["status"] == "up_to_date"


def test_orm_option_picks_sqlalchemy_only(tmp_path: Path) -> None:
    with database_urls("sqlite", tmp_path, 1) as urls:
        site = make_site(tmp_path / "site", {"tenant-1": urls[0]})

        result, lines = site.run_json("migrate", "--orm", "sqlalchemy_orm")

        assert result.returncode == 0, result.stderr
        assert {r["orm"] for r in report_of(lines)["results"]} == {"sqlalchemy_orm"}
        assert version(urls[0]) == [HEAD]
        assert not site.django_dbs["tenant-1"].exists()


def test_relative_sqlite_url_resolves_against_the_tenant_config_folder(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", {"tenant-1": "sqlite:///var/t1-sa.sqlite3"})
    (site.root / "var").mkdir()

    result = site.run("migrate")

    assert result.returncode == 0, result.stdout + result.stderr
    assert version(f"sqlite:///{site.root / 'var' / 't1-sa.sqlite3'}") == [HEAD]


BROKEN = {
    "missing ini": ({"ALEMBIC_INI": "nowhere/alembic.ini"}, "no such file"),
    "ini not ini": ({"ALEMBIC_INI": "broken.ini"}, "is not a valid ini file"),
    "ini without script_location": ({"ALEMBIC_INI": "empty.ini"}, "sets no script_location"),
    "missing script location": ({"SCRIPT_LOCATION": "nowhere"}, "cannot be used"),
    "broken revision": ({"SCRIPT_LOCATION": "alembic"}, "SyntaxError"),
    "broken env.py": ({"SCRIPT_LOCATION": "alembic"}, "SyntaxError"),
    "neither option": ({}, "needs ALEMBIC_INI or SCRIPT_LOCATION"),
    "unknown option": ({"ALEMBIC_INY": "alembic.ini"}, "does not accept its OPTIONS"),
    "unknown target": ({"SCRIPT_LOCATION": "alembic", "TARGET": "ffff0000"}, "cannot be used"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_alembic_configuration_exits_3_touching_nothing(tmp_path: Path, case: str) -> None:
    options, message = BROKEN[case]
    with database_urls("sqlite", tmp_path, 2) as urls:
        site = make_site(
            tmp_path / "site", {"tenant-1": urls[0], "tenant-2": urls[1]}, asst_options=options or {"X": 1}
        )
        if not options:  # no OPTIONS at all
            settings = site.root / "sasite" / "settings.py"
            settings.write_text(settings.read_text().replace("'OPTIONS': {'X': 1}", "'OPTIONS': {}"))
        (site.root / "broken.ini").write_text("this is = not [an ini\n")
        (site.root / "empty.ini").write_text("[alembic]\nsqlalchemy.url = sqlite://\n")
        if case == "broken revision":
            (site.root / "alembic" / "versions" / "d4_broken.py").write_text("revision = 'd4'\ndef (:\n")
        if case == "broken env.py":
            (site.root / "alembic" / "env.py").write_text("from alembic import context\nif:\n")

        result = site.run("migrate")

        assert result.returncode == 3, result.stdout + result.stderr
        assert "error:" in result.stderr and message in result.stderr
        assert not any(Path(u.removeprefix("sqlite:///")).exists() for u in urls)
        assert not any(p.exists() for p in site.django_dbs.values())


@pytest.mark.parametrize("backend", ["postgres", "mysql"])
def test_password_with_url_special_characters_works_and_is_never_shown(tmp_path: Path, backend: str) -> None:
    server = require(POSTGRES if backend == "postgres" else MYSQL)
    password = "p@ss%w:rd/x"
    with server.user(password) as user, server.databases(1, prefix="trsa") as (name,):
        good = server.sqlalchemy_url(name, user=user, password=password)
        missing = server.sqlalchemy_url(f"{name}_missing", user=user, password=password)
        site = make_site(tmp_path / "site", {"tenant-1": good, "tenant-2": missing}, django=False)

        plain = site.run("migrate", "-vv", "--traceback")
        as_json, _ = site.run_json("migrate", "--traceback")
        listing = site.run("list-backends")

        assert version(good) == [HEAD]
        for result in (plain, as_json):
            assert result.returncode == 8, result.stdout + result.stderr  # tenant-2's database: missing
            assert "tenant-2" in result.stdout
        for result in (plain, as_json, listing):
            output = result.stdout + result.stderr
            for shown in (password, quote(password, safe=""), quote_plus(password), "ss%w:rd"):
                assert shown not in output


def test_custom_third_orm_runs_beside_the_builtin_ones(tmp_path: Path) -> None:
    with database_urls("sqlite", tmp_path, 2) as urls:
        ledger = {t: tmp_path / f"ledger-{t}.txt" for t in ("tenant-1", "tenant-2")}
        site = make_site(
            tmp_path / "site",
            {"tenant-1": urls[0], "tenant-2": urls[1]},
            extra_orms={
                "ledger_orm": {
                    "MANAGER": "tenant_router.orm_backends.base.BaseOrmManager",
                    "SETTINGS_KEY": "LEDGER_DATABASES",
                    "OPTIONS": {
                        "MIGRATION_ASST": {"CLASS": "ledger_backend.LedgerAsst", "OPTIONS": {"STAMP": "v7"}}
                    },
                }
            },
            extra_settings='LEDGER_DATABASES = {"default": {"PATH": None}}',
            extra_tenant_config={t: {"ledger_orm": {"default": {"PATH": str(p)}}} for t, p in ledger.items()},
        )
        (site.root / "ledger_backend.py").write_text(LEDGER_BACKEND)

        result, lines = site.run_json("migrate")

        assert result.returncode == 0, result.stdout + result.stderr
        started = next(line for line in lines if line["event"] == "run_started")
        assert started["orms"] == ["django_orm", "sqlalchemy_orm", "ledger_orm"]
        report = report_of(lines)
        assert [r["orm"] for r in report["results"]] == ["django_orm"] * 2 + ["sqlalchemy_orm"] * 2 + [
            "ledger_orm"
        ] * 2
        assert {r["status"] for r in report["results"]} == {"migrated"}
        assert rows(report, "ledger_orm")["tenant-2"]["applied"] == ["v7"]
        assert all(p.read_text() == "v7" for p in ledger.values())
        assert [version(u) for u in urls] == [[HEAD], [HEAD]]


LEDGER_BACKEND = '''\
"""A made-up ORM whose "database" is a text file holding its schema version."""

from pathlib import Path

from tenant_router.orm_backends.base import BaseOrmMigrationAsst


class LedgerAsst(BaseOrmMigrationAsst):
    def __init__(self, manager, *, STAMP):
        super().__init__(manager, STAMP=STAMP)
        self.stamp = STAMP

    def migrate_database(self, run, db_config):
        path = Path(db_config["PATH"])
        current = path.read_text() if path.exists() else None
        run.planned([] if current == self.stamp else [self.stamp], current)
        if current != self.stamp:
            run.step_started(self.stamp)
            path.write_text(self.stamp)
            run.step_applied(self.stamp)
'''


def test_list_backends_shows_script_location_and_heads(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", {"tenant-1": "sqlite:///t1.sqlite3"})

    result, lines = site.run_json("list-backends")

    assert result.returncode == 0, result.stderr
    (info,) = [b for b in lines[-1]["backends"] if b["orm"] == "sqlalchemy_orm"]
    assert info["details"]["heads"] == HEAD
    assert info["details"]["script location"] == str(site.root / "alembic")
    assert info["tenants"] == 1
