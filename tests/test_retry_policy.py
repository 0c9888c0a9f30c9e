"""Which connection failures are retried: a server that answered before and now refuses is restarting;
an address that never answered is wrong, and is reported at once."""

from __future__ import annotations

import json

from support.sites import TenantSite

from tenant_router_cli.exit_codes import ExitCode

NOWHERE = {"ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1", "PORT": "1", "NAME": "x"}


def test_an_address_that_never_answered_is_not_retried(site: TenantSite) -> None:
    site.extra_tenants["nowhere"] = {"clinic": {"orm_config": {"django_orm": {"default": NOWHERE}}}}

    result = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1", "--json")

    assert result.exit_code == ExitCode.FAILED, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert not [e for e in events if e["event"] == "tenant_retried"]
    row = next(r for r in events[-1]["results"] if r["tenant"] == "nowhere")
    assert row["status"] == "failed" and "unreachable" in row["error"]
    tenants = [r for r in events[-1]["results"] if r["tenant"] not in ("nowhere", None)]  # central: shared
    assert {r["status"] for r in tenants} == {"migrated"}  # by the session, migrated by an earlier test
