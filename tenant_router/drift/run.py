"""`detect_drift()`: the library twin of `tenant-router drift`."""

from __future__ import annotations

from collections.abc import Sequence

from ..assistants import Assistants, AssistantSetup
from ..config import RouterConfig, load_config
from ..engine import _tenant_units
from ..executors import ExecutorOptions, make_executor
from ..report import DbKey, MigrationReport
from ..selection import select_tenants
from ..tasks import forget_db_configs
from .check import check_databases
from .report import DatabaseDrift, DriftReport


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
    specs = config.orms(orm)
    tenants = select_tenants(config.tenant_ids(), tenant, exclude, shard)
    options = ExecutorOptions("processes", jobs)  # drift reads stay on this machine's worker processes
    options.check()
    forget_db_configs()
    report = MigrationReport()  # collects the "skipped" rows; nothing is emitted anywhere
    setup = AssistantSetup()
    assistants = Assistants.for_run(config, specs, setup, report, tenants)
    keys: list[DbKey] = []
    for spec in specs:
        asst = assistants.get(spec.key)
        if not asst.is_coarse():
            keys += [(spec.key, None, alias) for alias in asst.manager.reserved_aliases]
    keys += list(_tenant_units(specs, assistants, tenants, report))
    runner = make_executor(options, assistants, report, setup)
    try:
        for spec in specs:
            assistants.get(spec.key).prepare()
        rows = check_databases(keys, assistants, runner, config.drift_scratch, strict=strict)
    finally:
        runner.close()
        assistants.close()
    rows += [DatabaseDrift(r.orm, r.tenant, r.alias, "skipped", error=r.reason) for r in report.rows()]
    order = {key: i for i, key in enumerate(keys)}
    orms = [s.key for s in specs]
    rows.sort(key=lambda r: (orms.index(r.orm), order.get((r.orm, r.tenant, r.alias), len(order))))
    return DriftReport(rows, [s.key for s in specs if not assistants.get(s.key).is_coarse()], strict)
