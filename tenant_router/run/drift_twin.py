"""`detect_drift()`: the library twin of `tenant-router drift`."""

from __future__ import annotations

from collections.abc import Sequence

from ..config.loader import load_config
from ..config.model import RouterConfig
from ..drift.report import DatabaseDrift, DriftReport
from ..executors import ExecutorSpec
from ..record.keys import DbKey
from .drift import check_databases
from .fleet import reading_fleet


def detect_drift(
    config: RouterConfig | None = None,
    *,
    orm: Sequence[str] = (),
    tenant: Sequence[str] = (),
    exclude: Sequence[str] = (),
    shard: str | None = None,
    strict: bool = False,
    jobs: int | None = 1,
) -> DriftReport:
    """Compare every selected database's real schema with the one its applied migrations promise."""
    config = config or load_config()
    options = ExecutorSpec("processes", jobs)  # drift reads stay on this machine's worker processes
    with reading_fleet(config, (orm, tenant, exclude, shard), options) as fleet:
        rows = check_databases(
            fleet.keys, fleet.assistants, fleet.runner, config.drift_scratch, strict=strict
        )
    specs, keys, assistants, report = fleet.specs, fleet.keys, fleet.assistants, fleet.report
    rows += [DatabaseDrift(r.orm, r.tenant, r.alias, "skipped", error=r.reason) for r in report.rows()]
    order = {key: i for i, key in enumerate(keys)}
    orms = [s.key for s in specs]
    rows.sort(key=lambda r: (orms.index(r.orm), order.get(DbKey(r.orm, r.tenant, r.alias), len(order))))
    return DriftReport(rows, [s.key for s in specs if not assistants.get(s.key).is_coarse()], strict)
