"""The pre-flight tells "nothing applied yet" from "cannot read" (issue 11, item 12) and reads `file:` names."""

from __future__ import annotations

import uuid
from pathlib import Path

from support.clinic import clinic_copy, migrate_args, pg_url, write_django_tenants
from support.processes import report_of, run
from support.servers import POSTGRES, require

from tenant_router_cli.exit_codes import ExitCode


def test_a_role_without_select_is_a_failure_not_pending(tmp_path: Path) -> None:
    require(POSTGRES)
    example = clinic_copy(tmp_path)
    journal = tmp_path / "journal"
    role = f"tr_nosel_{uuid.uuid4().hex[:8]}"
    POSTGRES.execute(f"CREATE ROLE {role} LOGIN")  # not a superuser: no SELECT on anything of postgres's
    try:
        with POSTGRES.databases(2, prefix="trnosel") as names:
            write_django_tenants(example, {f"t{i}": {"URL": pg_url(n)} for i, n in enumerate(names)})
            done = run(migrate_args(example, journal, "--json"), cwd=example)
            assert done.returncode == ExitCode.OK, done.stderr
            urls = {
                "t0": {
                    "URL": f"postgres://{role}@127.0.0.1:5432/{names[0]}"
                },  # cannot read django_migrations
                "t1": {"URL": pg_url(names[1])},
            }
            write_django_tenants(example, urls)

            check = run(migrate_args(example, journal, "--check", "--json"), cwd=example)
            again = run(migrate_args(example, journal, "--json"), cwd=example)
    finally:
        POSTGRES.execute(f"DROP ROLE IF EXISTS {role}")

    assert check.returncode == ExitCode.FAILED, (check.stdout, check.stderr)  # not 4: nothing is pending
    assert "unreadable: InsufficientPrivilege: permission denied" in check.stdout
    assert again.returncode == ExitCode.FAILED, again.stderr
    rows = {r["tenant"]: r for r in report_of(again.stdout)["results"] if r["tenant"]}
    assert rows["t1"]["status"] == "up_to_date"
    assert rows["t0"]["status"] == "failed" and rows["t0"]["applied"] == [], rows["t0"]
    assert rows["t0"]["error"].startswith("unreadable: ") and "permission denied" in rows["t0"]["error"]
