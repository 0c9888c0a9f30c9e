"""Differential tests on real third-party histories: each tenant equals what the frameworks' own tools give.

The corpus (tests/corpus): wagtail 8.0.1 and its apps, taggit, social-auth-app-django, django-allauth,
django.contrib and one small app of our own on the Django side, optuna's Alembic environment on the
other, both ORMs in one database per tenant. The oracle is `django-admin migrate` + `alembic upgrade`,
each in its own process with DATABASES["default"] = one database alone (tests/support/corpus.py);
tenant-router runs as a real process whose only Django settings are the corpus's.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.corpus import Corpora, Corpus, Db, oracle, token
from support.corpus_fleet import fleet
from support.describe import describe, differences
from support.servers import POSTGRES, require

ALL_STATES = ["empty", "partial", "one_behind"]
# Two tenants start from each of two states: the second of each replays what the first recorded
# (tenant-router's shared model states) instead of computing it.
FLEET = ["empty", "partial", "one_behind", "empty", "partial"]
PG = pytest.param("postgres", marks=pytest.mark.postgres)
MY = pytest.param("mysql", marks=pytest.mark.mysql)


@pytest.fixture(scope="session")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpora]:
    """Each engine's starting states and oracle results, built once per session."""
    made = Corpora(tmp_path_factory.mktemp("corpus"))
    yield made
    made.close()


@pytest.fixture(params=["sqlite", PG, MY])
def corpus(request: pytest.FixtureRequest, corpora: Corpora) -> Corpus:
    return corpora(request.param)


# The harness itself ------------------------------------------------------------------------------


def test_the_oracle_run_twice_describes_the_same(corpus: Corpus) -> None:
    again = corpus.store.new("oracle_again")
    try:
        began = time.monotonic()
        oracle(again, corpus.store.folder)
        corpus.timings["oracle from empty, again"] = time.monotonic() - began

        assert not (diff := differences(again.describe(), corpus.expected("empty"))), diff
    finally:
        corpus.store.drop(again)


def test_a_copy_describes_as_its_source(corpus: Corpus) -> None:
    copy = corpus.store.copy(corpus.final("partial"), "copy")
    try:
        assert not (diff := differences(copy.describe(), corpus.expected("partial"))), diff
        assert corpus.expected("partial") != corpus.expected("empty")  # the states really differ
    finally:
        corpus.store.drop(copy)


# The product promise ------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite", PG, MY])
def test_fleet_equals_the_oracle(corpora: Corpora, engine: str, tmp_path: Path) -> None:
    with fleet(corpora(engine), tmp_path, FLEET) as tenants:
        result = tenants.migrate("--jobs", "1")

        assert result.returncode == 0, result.why
        assert not (diff := tenants.mismatches()), diff
        assert tenants.template_untouched()
        again = tenants.migrate("--jobs", "1")  # nothing left to do, post_migrate's work included
        assert again.returncode == 0, again.why
        for orm in ("django_orm", "sqlalchemy_orm"):
            assert {r["status"] for r in again.rows(orm).values()} == {"up_to_date"}
        assert not [r["current"] for r in again.rows().values() if "squashed" in r["current"]]
        assert not (diff := tenants.mismatches()), diff


@pytest.mark.postgres
def test_fleet_on_two_workers_equals_the_oracle(corpora: Corpora, tmp_path: Path) -> None:
    with fleet(corpora("postgres"), tmp_path, FLEET) as tenants:
        result = tenants.migrate("--jobs", "2")

        assert result.returncode == 0, result.why
        assert not (diff := tenants.mismatches()), diff


def test_fleet_without_shared_states_equals_the_oracle(corpora: Corpora, tmp_path: Path) -> None:
    with fleet(corpora("sqlite"), tmp_path, FLEET, share_states=False) as tenants:
        result = tenants.migrate("--jobs", "1")

        assert result.returncode == 0, result.why
        assert not (diff := tenants.mismatches()), diff
        assert tenants.template_untouched()


# wagtailcore 0070 renames wagtailcore_pagerevision to wagtailcore_revision: a table of that name fails it.
FAILING_STEP = ("wagtailcore", "0070_rename_pagerevision_revision")
LAST_GOOD = ("wagtailcore", "0069_log_entry_jsonfield")
PLANTED = "CREATE TABLE wagtailcore_revision (id integer)"


@pytest.mark.parametrize("engine", ["sqlite", PG, MY])
def test_a_tenant_failing_half_way_spoils_no_other(corpora: Corpora, engine: str, tmp_path: Path) -> None:
    corpus = corpora(engine)
    reference = corpus.store.new("oracle_failing")  # the oracle from the same planted start
    try:
        reference.execute(PLANTED)
        assert oracle(reference, corpus.store.folder, check=False).returncode != 0
        applied = reference.describe()["bookkeeping"]["django_migrations"]
        assert LAST_GOOD in applied and FAILING_STEP not in applied  # the oracle fails there too
        with fleet(corpus, tmp_path, ["empty", "empty", "empty"]) as tenants:
            middle = tenants.tenants[1]
            middle.db.execute(PLANTED)

            result = tenants.migrate("--jobs", "1")

            assert result.returncode == 1, result.why
            rows = result.rows()
            statuses = [rows.get(t.id, {}).get("status") for t in tenants.tenants]
            assert statuses == ["migrated", "failed", "migrated"], result.why
            assert rows[middle.id]["failed_step"] == ".".join(FAILING_STEP)
            assert not (diff := tenants.mismatches(skip=[middle.id])), diff
            if engine != "mysql":  # transactional DDL: left at the last good migration, like the oracle
                assert not (diff := differences(middle.db.describe(), reference.describe())), diff
    finally:
        corpus.store.drop(reference)


def test_migrate_to_all_from_manage_py_shell_equals_the_oracle(corpora: Corpora, tmp_path: Path) -> None:
    with fleet(corpora("sqlite"), tmp_path, ["empty", "empty", "empty"]) as tenants:
        result = tenants.manage(
            "shell", "-c", "from tenant_router.utils import migrate_to_all; migrate_to_all()"
        )

        assert result.returncode == 0, result.stderr[-3000:]
        assert not (diff := tenants.mismatches()), diff
        assert tenants.template_untouched()


# The template database is never connected to ------------------------------------------------------


@pytest.mark.postgres
def test_a_template_on_a_server_that_refuses_connections_is_not_needed(
    corpora: Corpora, tmp_path: Path
) -> None:
    corpus = corpora("postgres")
    with fleet(corpus, tmp_path, ALL_STATES, template_port="1") as tenants:
        result = tenants.migrate("--jobs", "1")

        assert result.returncode == 0, result.why
        assert not (diff := tenants.mismatches()), diff


@pytest.mark.parametrize("engine", ["sqlite", PG])
def test_a_migrated_template_is_left_as_it_was(corpora: Corpora, engine: str, tmp_path: Path) -> None:
    corpus = corpora(engine)
    template = corpus.store.copy(corpus.final("empty"), "template")
    try:
        with fleet(corpus, tmp_path, ["partial", "one_behind"], template=template) as tenants:
            before = _fingerprint(template)

            result = tenants.migrate("--jobs", "1")

            assert result.returncode == 0, result.why
            assert not (diff := tenants.mismatches()), diff
            assert _fingerprint(template) == before
            assert not (diff := differences(template.describe(), corpus.expected("empty"))), diff
    finally:
        corpus.store.drop(template)


@pytest.mark.parametrize("engine", [PG, MY])
def test_tenants_created_from_a_template_equal_the_oracle(
    corpora: Corpora, engine: str, tmp_path: Path
) -> None:
    """`migrate --create-missing` on two tenants whose database does not exist: a template is built once
    and copied, and each copy equals what django-admin migrate + alembic upgrade make of an empty
    database (schema, every row with its id, sequence and AUTO_INCREMENT positions)."""
    corpus = corpora(engine)
    server = corpus.store.server
    assert server is not None
    prefix, names = f"trct{token()}", set()
    with fleet(corpus, tmp_path, ["empty", "empty"], template_prefix=prefix) as tenants:
        try:
            for tenant in tenants.tenants:
                server.drop_database(tenant.db.name)

            result = tenants.migrate("--jobs", "1", "--create-missing")

            assert result.returncode == 0, result.why
            for orm in ("django_orm", "sqlalchemy_orm"):
                rows = result.rows(orm).values()
                assert {r["status"] for r in rows} == {"created"}, rows
                names |= {r["reason"].split()[3] for r in rows}
            assert len(names) == 1 and names.pop().startswith(f"{prefix}_")  # one template, both ORMs
            assert not (diff := tenants.mismatches()), diff
        finally:
            for name in server.named(prefix):
                server.drop_database(name)


def _fingerprint(db: Db) -> str | int:
    """SQLite: the file's bytes. PostgreSQL: how many sessions have ever been opened on the database."""
    if db.server is None:
        return hashlib.sha256(Path(db.name).read_bytes()).hexdigest()
    conn = require(POSTGRES).admin()
    try:
        cur = conn.cursor()
        seen = []
        while len(seen) < 3 or len(set(seen[-3:])) > 1:  # statistics reach pg_stat_database as sessions end
            assert len(seen) < 100, f"sessions on {db.name} never settled: {seen}"
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (db.name,))
            seen.append(int(cur.fetchone()[0]))
            time.sleep(0.1)
        return seen[-1]
    finally:
        conn.close()


# describe() tells databases apart ----------------------------------------------------------------

BASE = [
    "CREATE TABLE django_content_type (id integer PRIMARY KEY, app_label varchar(100) NOT NULL, model varchar(100) NOT NULL)",
    "CREATE TABLE shop_item (id integer PRIMARY KEY, name varchar(50) NOT NULL, kind_id integer NOT NULL, "
    "CONSTRAINT shop_item_kind_fk FOREIGN KEY (kind_id) REFERENCES django_content_type (id))",
    "CREATE INDEX shop_item_name_idx ON shop_item (name)",
    "INSERT INTO django_content_type (id, app_label, model) VALUES (1, 'shop', 'item'), (2, 'shop', 'order')",
]
CHANGES = {
    "missing index": (BASE[:2] + BASE[3:], "tables.shop_item.indexes"),
    "nullability": (
        [BASE[0], BASE[1].replace("name varchar(50) NOT NULL", "name varchar(50)"), *BASE[2:]],
        "tables.shop_item.columns",
    ),
    "extra column": (
        [*BASE, "ALTER TABLE shop_item ADD COLUMN note varchar(10)"],
        "tables.shop_item.columns",
    ),
    "content-type id": (
        [*BASE[:3], BASE[3].replace("(2, 'shop', 'order')", "(3, 'shop', 'order')")],
        "rows.django_content_type",
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_describe_sees_each_kind_of_difference(corpus: Corpus, change: str) -> None:
    statements, where = CHANGES[change]
    one, other, same = (corpus.store.new(label) for label in ("describe_a", "describe_b", "describe_c"))
    try:
        for db, sql in ((one, BASE), (other, statements), (same, BASE)):
            db.execute(*sql)

        found = differences(describe(other.url), describe(one.url))

        assert any(line.startswith(where) for line in found.splitlines()), found
        assert differences(describe(same.url), describe(one.url)) == ""
    finally:
        for db in (one, other, same):
            corpus.store.drop(db)
