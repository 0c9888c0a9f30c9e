"""SQLite run locks leave nothing beside the database, and a NAME that is no database says so (item 8)."""

from __future__ import annotations

from pathlib import Path

from support.processes import report_of
from support.sites import TenantSite

from tenant_router_cli.exit_codes import ExitCode


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_sqlite_locks_leave_no_file_and_a_text_file_is_not_a_database(
    site: TenantSite, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    text = elsewhere / "notes.txt"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n" * 20)
    site.db("tenant-2").entry["NAME"] = str(text)
    before = listing(tmp_path)

    result = site.invoke(
        "migrate", "--settings", site.settings_module, "--lock-timeout", "5", "--no-journal", "--json"
    )

    assert result.exit_code == ExitCode.FAILED, result.output
    rows = {r["tenant"]: r for r in report_of(result.stdout)["results"] if r["tenant"]}
    assert rows["tenant-1"]["status"] == rows["tenant-3"]["status"] == "migrated"
    assert rows["tenant-2"]["status"] == "failed"
    assert rows["tenant-2"]["error"].startswith("not a database"), rows["tenant-2"]
    assert str(text) in rows["tenant-2"]["error"]
    assert listing(elsewhere) == {"notes.txt"}  # nothing created beside it
    assert text.read_text().startswith("root:x:0:0")  # and it is unchanged
    created = listing(tmp_path) - before
    assert created == {"tenant-1.sqlite3", "tenant-3.sqlite3"}, created  # no lock file left behind
