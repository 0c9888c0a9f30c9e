"""Attacks on the binding (binding.py): what Django itself, a test client, a thread pool or a worker does
with `connections` must keep working inside and outside `tenant_context_bind`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import TenantSite
from django.db import close_old_connections, connections, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.test.utils import override_settings
from django.urls import path
from patients.models import Patient
from servers import Server

from tenant_router import migrate_tenants, tenant_context_bind


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
def test_unbound_close_reaches_the_threads_tenant_connections(server: Server, server_site_factory: Any) -> None:
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
