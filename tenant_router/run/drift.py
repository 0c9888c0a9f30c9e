"""Drift, the run's part: probe databases on the worker pool, build expected schemas, classify.

`read_drift` is the pass behind `tenant-router drift` (`api.detect_drift`); `check_databases` is also
what `migrate --refuse-drift` runs over the pending databases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..config.model import RouterConfig
from ..drift.diff import compare
from ..drift.expected import Expected, ExpectedSchemas
from ..drift.probe import Probe
from ..drift.report import DatabaseDrift, DriftReport
from ..errors import UsageError
from ..executors import ExecutorSpec
from ..executors.tasks import batched
from ..orm_backends.assistants import Assistants
from ..preflight import Unreachable
from ..record.captured import OutputCapture
from ..record.events import OutputLogged
from ..record.keys import DbKey
from .fleet import reading_fleet
from .requests import Selection


class Runner(Protocol):
    def run(self, tasks: Any) -> list[tuple[DbKey, Any]]: ...


def check_databases(
    keys: Sequence[DbKey],
    assistants: Assistants,
    runner: Runner,
    scratch: Mapping[str, Mapping[str, Any]],
    *,
    strict: bool = False,
    swept: list[str] | None = None,
) -> list[DatabaseDrift]:
    """Classify every database of `keys` (alias None: unknown, its ORM migrates whole tenants); the
    scratch databases killed drift runs had left, dropped on the way, are added to `swept`."""
    tasks = batched("drift", [k for k in keys if k.alias is not None], assistants)
    found: dict[DbKey, Any] = dict(runner.run(tasks))
    expected = ExpectedSchemas(assistants, scratch, assistants.config.drift_prefix)
    try:
        owned = tables_owned(found, expected)
        return [
            classify(
                key, found.get(key), expected, strict, owned.get(getattr(found.get(key), "identity", ""))
            )
            for key in keys
        ]
    finally:
        if swept is not None:
            swept += expected.swept


def tables_owned(found: Mapping[DbKey, Any], expected: ExpectedSchemas) -> dict[str, frozenset[str]]:
    """Per physical database, the tables some selected ORM's migrations own there (a tenant's Django
    and Alembic tables often share one database: each ORM's tables are not outside the other's)."""
    owned: dict[str, set[str]] = {}
    for key, probe in found.items():
        if isinstance(probe, Probe) and probe.identity:
            want = expected.get(key, probe)
            owned.setdefault(probe.identity, set()).update(want.schema or ())
    return {identity: frozenset(tables) for identity, tables in owned.items()}


def classify(
    key: DbKey, found: Any, expected: ExpectedSchemas, strict: bool, owned: frozenset[str] | None = None
) -> DatabaseDrift:
    """One database's state from its probe and the expected schema of its applied set; a table that
    another selected ORM's migrations `owned` in the same database is neither drift nor a note."""
    if isinstance(found, Unreachable):
        return DatabaseDrift(*key, "unreachable", error=found.line)
    if not isinstance(found, Probe):
        return DatabaseDrift(*key, "unknown", error="unknown: its ORM cannot tell what is applied")
    pending, current = found.inspection.pending, found.inspection.current
    want: Expected = expected.get(key, found)
    if want.schema is None:
        return DatabaseDrift(*key, "unknown", found.fingerprint, None, pending, current, error=want.error)
    same = found.fingerprint == want.fingerprint  # the common case: nothing to compare
    differences = [] if same else compare(want.schema, found.schema)
    differences = [d for d in differences if not (d.is_extra_table and d.table in (owned or ()))]
    notes = () if strict else tuple(d for d in differences if d.is_extra_table)
    differences = [d for d in differences if d not in notes]
    state = "drifted" if differences else "pending" if pending else "match"
    return DatabaseDrift(
        *key, state, found.fingerprint, want.fingerprint, pending, current, tuple(differences), notes
    )


def read_drift(
    config: RouterConfig | None, selection: Selection, strict: bool, executor: ExecutorSpec
) -> DriftReport:
    """Compare every selected database's real schema with the one its applied migrations promise."""
    if executor.name != "processes":  # schemas are compared here: the reads stay on this machine
        raise UsageError("drift reads schemas on this machine: --executor celery does not apply to it.")
    output: list[OutputLogged] = []  # the scratch migrations' env.py logging, print(): not the terminal's
    swept: list[str] = []
    with OutputCapture(output.append), reading_fleet(config, selection, executor) as fleet:
        scratch = fleet.assistants.config.drift_scratch
        try:
            rows = check_databases(
                fleet.keys, fleet.assistants, fleet.runner, scratch, strict=strict, swept=swept
            )
        finally:
            output += [
                OutputLogged(None, None, None, "WARNING", "tenant_router.drift", f"dropped {name}: a scratch "
                             "database a drift run that was killed had left")
                for name in swept
            ]  # fmt: skip
    specs, keys, assistants, report = fleet.specs, fleet.keys, fleet.assistants, fleet.report
    rows += [DatabaseDrift(r.orm, r.tenant, r.alias, "skipped", error=r.reason) for r in report.rows()]
    order = {key: i for i, key in enumerate(keys)}
    orms = [s.key for s in specs]
    rows.sort(key=lambda r: (orms.index(r.orm), order.get(DbKey(r.orm, r.tenant, r.alias), len(order))))
    return DriftReport(rows, [s.key for s in specs if not assistants.get(s.key).is_coarse()], strict, output)
