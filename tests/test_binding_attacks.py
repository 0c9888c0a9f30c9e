"""Attacks on the binding (binding.py): what Django itself, a test client, a thread pool or a worker does
with `connections` must keep working inside and outside `tenant_context_bind`."""

from __future__ import annotations

import json
import sqlite3
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from directory.models import Clinic
from django.db import close_old_connections, connection, connections, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.test.utils import override_settings
from django.urls import path
from patients.models import Patient
from support.paths import EXAMPLE, TESTS
from support.processes import clean_environment, run
from support.servers import Server
from support.sites import TenantSite

from tenant_router import ConfigurationError, Status, migrate_tenants, tenant_context_bind
from tenant_router.orm_backends.django_orm.binding import TemplateAccessError


def names(db: Any) -> list[str]:
    return sorted(r[0] for r in db.query("SELECT name FROM patients_patient"))


# A site for Django's test client: a middleware binds the tenant a header names.
def count_patients(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(Patient.objects.count()))


urlpatterns = [path("count/", count_patients)]


class TenantMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        with tenant_context_bind(request.headers["X-Tenant"]):
            return self.get_response(request)


def test_close_all_in_another_thread_with_nothing_bound(site: TenantSite) -> None:
    """The stand-in for an unbound template alias was one object for every thread: closing it from a second
    thread raised Django's "DatabaseWrapper objects created in a thread can only be used in that same thread"."""
    migrate_tenants()
    connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(connections.close_all).result()
        pool.submit(close_old_connections).result()


def test_test_client_leaves_a_bound_tenants_transaction_alone(site: TenantSite) -> None:
    """Django's test client disconnects close_old_connections around a request so the test's transaction
    survives it; the tenant connections' own request_started handler closed the bound tenant's connection
    inside that transaction ("Cannot operate on a closed database")."""
    migrate_tenants()
    client = Client()

    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=[f"{__name__}.TenantMiddleware"]):
        assert client.get("/count/", headers={"X-Tenant": "tenant-2"}).content == b"0"
        with tenant_context_bind("tenant-1"), transaction.atomic():
            Patient.objects.create(name="before")
            response = client.get("/count/", headers={"X-Tenant": "tenant-1"})
            Patient.objects.create(name="after")

    assert response.content == b"1"
    assert names(site.db("tenant-1")) == ["after", "before"]


def sessions(server: Server, names: list[str]) -> int:
    conn = server.admin()
    try:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(%s)", [names])
        return int(cur.fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("server", ["postgres"], indirect=True)
def test_unbound_close_reaches_the_threads_tenant_connections(
    server: Server, server_site_factory: Any
) -> None:
    """Celery closes connections before and after each task with nothing bound (`connections.all()`), the
    workers fork after `connections.close_all()`: tenant connections of the thread stayed open, one per tenant
    ever served, whatever CONN_MAX_AGE said (and were inherited by forked workers)."""
    site = server_site_factory(3)
    site.databases[0].entry["CONN_MAX_AGE"] = None  # tenant-1 keeps its connection, the others do not
    site.write()
    migrate_tenants()
    dbs = [db.name for db in site.databases]

    for db in site.databases:
        with tenant_context_bind(db.tenant):
            Patient.objects.count()
    assert sessions(server, dbs) == 3
    close_old_connections()
    assert sessions(server, dbs) == 1
    connections.close_all()
    assert sessions(server, dbs) == 0


def run_project(tmp: Path, module: str, settings: str, tenants: dict[str, Any], script: str) -> Any:
    """Run `script` in its own process with settings `module` (the tests' apps on the path) and these
    tenants' django_orm entries; its last line of output is returned as JSON."""
    (tmp / f"{module}.py").write_text(settings)
    document = {t: {"clinic": {"orm_config": {"django_orm": e}}} for t, e in tenants.items()}
    (tmp / "tenants.json").write_text(json.dumps({"tenant_config": document}))
    env = clean_environment(tmp, TESTS, EXAMPLE, DJANGO_SETTINGS_MODULE=module)
    result = run([sys.executable, "-c", script], tmp, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


TWO_ALIAS_SETTINGS = """
import os
from trsite.settings import *

HERE = os.path.dirname(os.path.abspath(__file__))
DATABASES = {
    **DATABASES,
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(HERE, "tpl.sqlite3")},
    "analytics": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(HERE, "tpl-analytics.sqlite3")},
}
INSTALLED_APPS = [*INSTALLED_APPS, "audit"]
TENANT_ROUTER_TENANT_CONFIG = os.path.join(HERE, "tenants.json")
TENANT_ROUTER_ORM_SETTINGS = {"django_orm": {"OPTIONS": {"RESERVED_CONN_ALIASES": ["central"],
    "ROUTER_OPTS": {"MIGRATE_STRATEGY": "twosite.strategy"}}}}

def strategy(router, db, app_label, **hints):
    if db == "central":
        return app_label == "directory"
    return db == "default" and app_label != "directory"  # analytics: tables written by hand
"""
AUDIT_MIGRATION = """
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, migrations

def log(apps, schema_editor):
    try:
        connections["analytics"].ensure_connection()
    except ImproperlyConfigured:
        return  # this tenant has no analytics database
    with connections["analytics"].cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS audit_log (what varchar(100))")
        cursor.execute("INSERT INTO audit_log VALUES (%s)", [connection.settings_dict["NAME"]])

class Migration(migrations.Migration):
    operations = [migrations.RunPython(log, migrations.RunPython.noop)]
"""
TWO_ALIAS_SCRIPT = """
import json, django
django.setup()
from django.db import close_old_connections, connections
from patients.models import Patient
from tenant_router import tenant_context_bind
from tenant_router.utils import migrate_to_all

def attempt(func):
    try:
        func()
        return "ok"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

migrate_to_all()
out = {}
for tenant in ["t1", "t2", "nope"]:
    with tenant_context_bind(tenant):
        out[tenant] = [attempt(close_old_connections), attempt(connections.close_all),
                       attempt(lambda: connections["analytics"].cursor()), attempt(Patient.objects.count)]
print(json.dumps(out))
"""


def test_two_template_aliases_and_a_tenant_with_only_one(tmp_path: Path) -> None:
    """t2 has no `analytics` database (reported skipped for it): inside its binding close_old_connections()
    and connections.close_all() raised ConfigurationError; now only using that alias does."""
    (tmp_path / "audit" / "migrations").mkdir(parents=True)
    for name in ("audit/__init__.py", "audit/migrations/__init__.py"):
        (tmp_path / name).write_text("")
    (tmp_path / "audit" / "migrations" / "0001_log.py").write_text(AUDIT_MIGRATION)
    t1 = {"default": {"NAME": "t1.sqlite3"}, "analytics": {"NAME": "t1-analytics.sqlite3"}}
    tenants = {"t1": t1, "t2": {"default": {"NAME": "t2.sqlite3"}}}

    out = run_project(tmp_path, "twosite", TWO_ALIAS_SETTINGS, tenants, TWO_ALIAS_SCRIPT)

    assert out["t1"] == ["ok"] * 4
    missing = "ConfigurationError: Tenant 't2' has no django_orm.analytics entry in the tenant configuration."
    assert out["t2"] == ["ok", "ok", missing, "ok"]
    unknown = "ConfigurationError: Tenant 'nope' is not in the tenant configuration."
    assert out["nope"] == ["ok", "ok", unknown, unknown]
    with sqlite3.connect(tmp_path / "t1-analytics.sqlite3") as conn:  # written while t1's default migrated
        assert conn.execute("SELECT what FROM audit_log").fetchall() == [(str(tmp_path / "t1.sqlite3"),)]
    assert not (tmp_path / "tpl.sqlite3").exists() and not (tmp_path / "tpl-analytics.sqlite3").exists()


def test_a_broken_tenant_configuration_never_lets_bound_code_reach_the_template(site: TenantSite) -> None:
    """One malformed tenant entry made the run-time view intercept nothing: every binding silently reached the
    template database (created it, wrote into it)."""
    migrate_tenants()
    site.extra_tenants["typo"] = {"clinic": {"orm_config": {"django_orm": {"default": {"NAMEE": "x"}}}}}

    with override_settings(TENANT_ROUTER_TENANT_CONFIG=str(site.write())):  # read afresh, as at start-up
        with tenant_context_bind("tenant-1"), pytest.raises(ConfigurationError, match="unknown key 'NAMEE'"):
            Patient.objects.create(name="lost")
        with pytest.raises(TemplateAccessError):
            Patient.objects.count()
        assert Clinic.objects.count() == 0  # routing needs the ORM settings only: the reserved alias works

    assert not Path(connections.settings["default"]["NAME"]).exists()


def test_copies_of_the_stand_in_refuse_too(site: TenantSite) -> None:
    """Django copies a connection object (`copy()`, the test runner's no-database connection on PostgreSQL):
    the copy of an unbound template alias must refuse the same way, not fail on a missing attribute."""
    with pytest.raises(TemplateAccessError, match=r"No tenant is bound: DATABASES\['default'\]"):
        connections["default"].copy().cursor()
    connections["default"].copy().close()


TENANTS_DOC: dict[str, Any] = {}


def tenants_from_central() -> dict[str, Any]:
    """A TENANT_ROUTER_TENANT_CONFIG callable that reads the tenants from a reserved database, no `.using()`."""
    Clinic.objects.count()
    return TENANTS_DOC


def serve_tenants(site: TenantSite) -> None:
    """What the callables here return: the site's tenants, with absolute paths."""
    entries = {db.tenant: {"default": {"NAME": str(db.path)}} for db in site.databases}
    TENANTS_DOC["tenant_config"] = {
        t: {"clinic": {"orm_config": {"django_orm": e}}} for t, e in entries.items()
    }


def tenants_from_the_template() -> dict[str, Any]:
    """A TENANT_ROUTER_TENANT_CONFIG callable that (wrongly) reads the tenants from a template alias."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return TENANTS_DOC


def test_a_tenant_config_callable_never_reaches_the_template(site: TenantSite) -> None:
    """While the tenant configuration was read nothing was intercepted: a callable querying `default` was
    connected to the template database itself."""
    migrate_tenants()
    serve_tenants(site)

    with (
        override_settings(TENANT_ROUTER_TENANT_CONFIG=f"{__name__}.tenants_from_the_template"),
        tenant_context_bind("tenant-1"),
        pytest.raises(ConfigurationError, match="being read"),
    ):
        Patient.objects.count()

    assert not Path(connections.settings["default"]["NAME"]).exists()


def test_a_tenant_config_callable_may_query_a_reserved_database_through_the_router(site: TenantSite) -> None:
    """DjangoOrmRouter loaded the whole configuration to route a query, the callable's own query among them:
    RecursionError at run time, TemplateAccessError in a run (the query fell through to `default`)."""
    migrate_tenants()
    serve_tenants(site)

    with override_settings(TENANT_ROUTER_TENANT_CONFIG=f"{__name__}.tenants_from_central"):
        with tenant_context_bind("tenant-2"):
            Patient.objects.create(name="via a callable")
        report = migrate_tenants()

    assert {row.status for row in report.rows()} == {Status.UP_TO_DATE}
    assert names(site.db("tenant-2")) == ["via a callable"]


SITES_SETTINGS = """
import os
from trsite.settings import *

HERE = os.path.dirname(os.path.abspath(__file__))
DATABASES = {**DATABASES, "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(HERE, "tpl.sqlite3")}}
INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.sites"]
SITE_ID = 1
ALLOWED_HOSTS = ["*"]
TENANT_ROUTER_TENANT_CONFIG = os.path.join(HERE, "tenants.json")
"""
SITES_SCRIPT = """
import json, django
django.setup()
from django.contrib.sites.models import Site
from django.test import RequestFactory
from tenant_router import migrate_tenants, tenant_context_bind

migrate_tenants()
for tenant in ["t1", "t2"]:
    with tenant_context_bind(tenant):
        Site.objects.filter(pk=1).update(domain=f"{tenant}.example")
        Site.objects.create(domain="shared.example", name=tenant)
out = []
for tenant in ["t1", "t2", "t1"]:
    with tenant_context_bind(tenant):
        by_host = Site.objects._get_site_by_request(RequestFactory().get("/", HTTP_HOST="shared.example"))
        out.append([Site.objects.get_current().domain, by_host.name, Site.objects.get(pk=1).domain])
        Site.objects.clear_cache()
        out.append(Site.objects.get_current().domain)
print(json.dumps(out))
"""


def test_the_sites_cache_is_kept_per_tenant(tmp_path: Path) -> None:
    """django.contrib.sites caches Site objects per process (SITE_CACHE, by id and by host): the second tenant
    was served the first tenant's Site (its domain in every absolute link and e-mail)."""
    tenants = {"t1": {"default": {"NAME": "t1.sqlite3"}}, "t2": {"default": {"NAME": "t2.sqlite3"}}}

    out = run_project(tmp_path, "sitessite", SITES_SETTINGS, tenants, SITES_SCRIPT)

    t1, t2 = (
        [["t1.example", "t1", "t1.example"], "t1.example"],
        [["t2.example", "t2", "t2.example"], "t2.example"],
    )
    assert out == [*t1, *t2, *t1]


def test_an_atomic_block_is_its_tenants_own_across_a_nested_binding(site: TenantSite) -> None:
    """Behaviour, not a defect: like two aliases, a transaction belongs to the connection it started on; a
    nested binding writes on its own tenant's connection (autocommit) and restores the outer one."""
    migrate_tenants()

    with tenant_context_bind("tenant-1"), pytest.raises(RuntimeError), transaction.atomic():
        Patient.objects.create(name="rolled back")
        with tenant_context_bind("tenant-2"):
            Patient.objects.create(name="kept")
            assert not connection.in_atomic_block
        assert connection.in_atomic_block
        raise RuntimeError

    assert names(site.db("tenant-1")) == [] and names(site.db("tenant-2")) == ["kept"]


def test_content_type_cache_stays_per_tenant_after_the_app_registry_cache_is_cleared(
    site: TenantSite,
) -> None:
    """`ContentType.objects` is a copy of the declared manager, made again after `apps.clear_cache()` (a model
    registered late, TransactionTestCase.available_apps): the new copy had Django's plain cache, and the
    second tenant got the first one's content-type ids."""
    from django.apps import apps
    from django.contrib.contenttypes.models import ContentType

    migrate_tenants()
    site.db("tenant-2").execute("UPDATE django_content_type SET id = id + 1000 WHERE model = 'patient'")
    apps.clear_cache()
    ids = {}
    for tenant in ["tenant-1", "tenant-2"]:
        with tenant_context_bind(tenant):
            ids[tenant] = ContentType.objects.get_for_model(Patient).id

    assert ids["tenant-2"] == ids["tenant-1"] + 1000
