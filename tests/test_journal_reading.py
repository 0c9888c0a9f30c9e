"""A journal read back claims no more than it holds: a `requeued` line (busy, waiting for its retry) is
not an outcome, and databases are listed in the order they settled."""

from __future__ import annotations

import json
from pathlib import Path

from tenant_router.record.journal import read_run


def _journal(tmp_path: Path, *lines: dict) -> Path:
    header = {"journal": 1, "run": "20261205T000000Z-abcd", "started": "x", "tenants": ["a", "b"],
              "databases": [["django_orm", "a", "default"], ["django_orm", "b", "default"]]}  # fmt: skip
    path = tmp_path / "20261205T000000Z-abcd.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in (header, *lines)))
    return path


def _line(tenant: str, status: str, **extra: object) -> dict:
    return {"orm": "django_orm", "tenant": tenant, "alias": "default", "status": status, **extra}


def test_a_database_waiting_for_its_retry_when_the_run_was_killed_has_no_outcome(tmp_path: Path) -> None:
    run = read_run(_journal(tmp_path, _line("a", "busy", requeued="retry 1/3 in 5s"), _line("b", "migrated")))

    assert list(run.outcomes) == [("django_orm", "b", "default")]
    assert run.requeues == {("django_orm", "a", "default"): 1}
    assert run.databases_to_redo() == [("django_orm", "a", "default")]  # never finished: redone


def test_databases_are_in_the_order_they_settled(tmp_path: Path) -> None:
    path = _journal(
        tmp_path,
        _line("a", "busy", requeued="retry 1/3 in 5s"),
        _line("b", "migrated"),
        _line("a", "migrated"),
    )

    assert [key[1] for key in read_run(path).outcomes] == ["b", "a"]
