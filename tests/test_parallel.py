"""Worker processes: same result as in-process, a dead worker fails only its tenant, pre-flight verdicts."""

from __future__ import annotations

import json
from typing import Any

from support.describe import django_rows, schema
from support.sites import TenantSite

from tenant_router import ExecutorSpec, Selection, Status, migrate_tenants
from tenant_router.record.events import StepApplied, TenantFailed, TenantFinished, TenantStarted
from tenant_router_cli.exit_codes import ExitCode


def sqlite_url(site: TenantSite, tenant: str) -> str:
    path = site.db(tenant).path
    assert path is not None
    return f"sqlite:///{path}"


def test_parallel_and_sequential_runs_give_identical_databases(site: TenantSite) -> None:
    sequential = site.invoke(
        "migrate", "--settings", site.settings_module, "--jobs", "1", "--tenant", "tenant-1"
    )
    parallel = site.invoke(
        "migrate",
        "--settings",
        site.settings_module,
        "--jobs",
        "2",
        "--tenant",
        "tenant-2",
        "--tenant",
        "tenant-3",
    )

    assert sequential.exit_code == parallel.exit_code == ExitCode.OK, parallel.output
    reference = sqlite_url(site, "tenant-1")
    for tenant in ("tenant-2", "tenant-3"):
        assert schema(sqlite_url(site, tenant)) == schema(reference)
        assert django_rows(sqlite_url(site, tenant)) == django_rows(reference)


def test_parallel_on_a_server(server: Any, server_site_factory: Any) -> None:
    site = server_site_factory(3)

    result = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "2", "--json")

    assert result.exit_code == ExitCode.OK, result.output
    from support.describe import url_for

    urls = [url_for(site.databases[i].entry) for i in range(3)]
    assert schema(urls[1]) == schema(urls[0]) == schema(urls[2])
    assert django_rows(urls[1]) == django_rows(urls[0])


def test_a_killed_worker_fails_its_tenant_and_the_rest_finish(site: TenantSite) -> None:
    doomed = site.db("tenant-2")
    doomed.execute("CREATE TABLE tr_kill_me (id integer)")

    result = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "2", "--json")

    assert result.exit_code == ExitCode.FAILED, result.output
    report = json.loads(result.stdout.splitlines()[-1])
    rows = {r["tenant"]: r for r in report["results"] if r["tenant"]}
    assert rows["tenant-2"]["status"] == "failed"
    assert rows["tenant-2"]["error"] == "worker process died (killed by SIGKILL)"
    assert rows["tenant-2"]["failed_step"] == "killer.0001_kill_switch"
    assert rows["tenant-1"]["status"] == rows["tenant-3"]["status"] == "migrated"
    assert ("killer", "0001_kill_switch") in site.db("tenant-3").applied()


def test_preflight_settles_current_and_unreachable_databases_without_migrating(site: TenantSite) -> None:
    migrate_tenants(selection=Selection(tenants=("tenant-1", "tenant-2")))
    site.db("tenant-2").execute("DELETE FROM django_migrations WHERE app = 'killer'")  # one behind
    site.databases[2].entry["NAME"] = str(site.tmp / "missing-dir" / "t3.sqlite3")
    site.write()
    events: list[Any] = []

    report = migrate_tenants(executor=ExecutorSpec(jobs=2), on_event=events.append)

    def of(tenant: str) -> list[Any]:
        return [e for e in events if getattr(e, "tenant", None) == tenant]

    current = of("tenant-1")
    assert [type(e) for e in current] == [TenantFinished] and current[0].status is Status.UP_TO_DATE
    behind = of("tenant-2")
    assert [e.step for e in behind if isinstance(e, StepApplied)] == ["killer.0001_kill_switch"]
    assert isinstance(behind[0], TenantStarted)
    unreachable = of("tenant-3")
    assert [type(e) for e in unreachable] == [TenantFailed]
    assert unreachable[0].error.startswith("unreachable: OperationalError: unable to open database file")
    assert report.counts(orm="django_orm")["up_to_date"] == 2  # tenant-1 and the central database


def test_connection_cap_keeps_one_database_per_server_at_a_time(
    server: Any, server_site_factory: Any
) -> None:
    site = server_site_factory(4)
    events: list[Any] = []

    migrate_tenants(executor=ExecutorSpec(jobs=2, max_per_host=1), on_event=events.append)

    running = 0
    for event in events:
        if isinstance(event, TenantStarted) and event.tenant:
            running += 1
            assert running == 1, "two databases of one server were migrated at once"
        elif isinstance(event, TenantFinished | TenantFailed) and event.tenant:
            running -= 1
    assert all(db.applied() for db in site.databases)


def test_no_connection_left_open_after_a_parallel_run(server_site_factory: Any, server: Any) -> None:
    site = server_site_factory(3)
    assert site.invoke("migrate", "--settings", site.settings_module, "--jobs", "2").exit_code == 0
    if server.kind != "postgres":
        return
    conn = server.admin()
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(%s)",
            ([d.name for d in site.databases],),
        )
        assert cur.fetchone()[0] == 0
    finally:
        conn.close()


def test_workers_replaced_after_every_task_still_migrate_everything(site: TenantSite) -> None:
    report = migrate_tenants(executor=ExecutorSpec(jobs=2, worker_tasks=1))

    assert report.ok, [(r.label, r.error) for r in report.failures]
    assert [r.status for r in report.rows() if r.tenant] == [Status.MIGRATED] * 3
    assert all(("killer", "0001_kill_switch") in db.applied() for db in site.databases)
