"""Issue 20, items 3, 4 and 11 (second half): after a failure, an interrupt or a lock wait, every row says
what the database holds, re-read from it, never what the steps that ran would suggest."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from support.sqlalchemy_sites import database_urls, execute, make_site, report_of, rows, version
from support.terminal import render, terminal

from tenant_router.record import events as event_types
from tenant_router_cli.live import LiveProgress

KINDS = {
    cls.kind: cls
    for cls in vars(event_types).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and hasattr(cls, "kind")
}


def replay(lines: list[dict[str, Any]], width: int = 120, height: int = 30) -> list[str]:
    """The live view of a run, rebuilt from the events its --json output carried."""
    live = LiveProgress(terminal(width, height))
    for line in lines:
        cls = KINDS.get(line["event"])
        if cls is None:
            continue
        fields = {f.name: line.get(f.name) for f in dataclasses.fields(cls) if f.name in line}
        for name, value in fields.items():
            if isinstance(value, list):
                fields[name] = tuple(value)
            elif name == "status" and value is not None:
                fields[name] = event_types.Status(value)
        live(cls(**fields))
    return render(live, width, height)


# -- item 3: Alembic in one transaction ------------------------------------------------------------------


def test_alembic_rows_after_a_one_transaction_rollback_count_nothing_applied(tmp_path: Path) -> None:
    """The stock env.py runs every revision in one transaction: c3 fails, a1 and b2 go with it. The JSON
    row, the event and the live row say nothing was applied, and name what was rolled back."""
    with database_urls("postgres", tmp_path, 1) as urls:
        execute(urls[0], "CREATE TABLE ledger_reference_key (id integer)")  # c3's constraint name is taken
        site = make_site(tmp_path / "site", {"tenant-1": urls[0]}, style="url", django=False)

        result, lines = site.run_json("migrate")

        assert result.returncode == 1, result.stderr
        assert version(urls[0]) == []
        row = rows(report_of(lines), "sqlalchemy_orm")["tenant-1"]
        assert row["current"] == "base", row
        assert row["applied"] == [] and row["applied_count"] == 0, row
        assert row["rolled_back"] == ["a1000000001a", "b2000000002b"], row
        failed = next(e for e in lines if e["event"] == "tenant_failed")
        assert failed["undone"] == ["a1000000001a", "b2000000002b"], failed
        (line,) = [text for text in replay(lines) if "tenant-1" in text]
        assert "0/3" in line and "2/3" not in line, line
        assert "at base" in line, line
