"""One read of the fleet, shared by migrate, status and drift: select, build assistants, list the keys.

`Fleet.select` resolves a Selection against the configuration; `Fleet.bind` builds and binds the
assistants; `planned` and `tenant_databases` name every database a run visits. `reading_fleet` adds an
executor for the read-only passes (status, --plan, drift): nothing emitted, nothing migrated.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from ..config.loader import load_config
from ..config.model import OrmSpec, RouterConfig
from ..executors import Executor, ExecutorSpec, make_executor
from ..orm_backends.assistants import Assistants, AssistantSetup
from ..record.keys import DbKey
from ..record.orm_report import report_unconfigured
from ..record.report import MigrationReport
from .requests import Selection


@dataclass
class Fleet:
    """The selected ORMs and tenants of one run, and (once bound) their assistants."""

    config: RouterConfig
    specs: list[OrmSpec]
    tenants: list[str]
    assistants: Assistants | None = None

    @classmethod
    def select(cls, config: RouterConfig | None, selection: Selection) -> Fleet:
        """Resolve `selection` (SelectionError, UsageError); Django is set up and the settings read when
        no `config` is given."""
        config = config or load_config()
        specs, tenants = selection.resolve(config)
        return cls(config, specs, tenants)

    def bind(self, setup: AssistantSetup, report: MigrationReport, executor: ExecutorSpec) -> Assistants:
        """Build the assistants, bound to `report` as `setup` says (Celery: settings stay on the workers)."""
        self.assistants = Assistants.for_run(
            self.config, self.specs, setup, report, self.tenants, keep_settings=executor.name != "celery"
        )
        return self.assistants

    @property
    def bound(self) -> Assistants:
        """The assistants (after bind)."""
        assert self.assistants is not None, "Fleet.bind() first"
        return self.assistants

    def planned(self, *, reserved: bool) -> list[DbKey]:
        """Every database this run expects to visit, reserved ones only when `reserved`."""
        planned: list[DbKey] = []
        for spec in self.specs:
            planned += [
                DbKey(spec.key, t, a)
                for t, a in self.bound.get(spec.key).planned_databases()
                if reserved or not (t is None and a is not None)
            ]
        return planned

    def tenant_databases(self, planned: Sequence[DbKey] = ()) -> tuple[list[DbKey], list[DbKey]]:
        """Every configured tenant database, and the tenant databases with no entry for their alias (to
        be reported skipped). Keys equal to one of `planned` are that object (a run of many tenants
        holds one tuple per database)."""
        same = {key: key for key in planned}
        assistants = self.bound
        found: list[DbKey] = []
        unconfigured: list[DbKey] = []
        for spec in self.specs:
            asst = assistants.get(spec.key)
            if asst.is_coarse():
                continue
            if asst.is_per_tenant():
                found += [DbKey(spec.key, t, None) for t in self.tenants]
                continue
            for t in self.tenants:
                for alias in asst.manager.template_aliases:
                    fresh = DbKey(spec.key, t, alias)
                    key = same.get(fresh, fresh)  # also the memo's key
                    (found if assistants.find_db_config(key) is not None else unconfigured).append(key)
        return found, unconfigured

    def prepare(self) -> None:
        """Load the migration graphs once (before workers fork)."""
        for spec in self.specs:
            self.bound.get(spec.key).prepare()


@dataclass
class FleetRead:
    """What a read-only pass over the fleet works with (see reading_fleet)."""

    specs: list[OrmSpec]
    assistants: Assistants
    runner: Executor
    keys: list[DbKey]  # every selected database: reserved ones first (unless a target), then tenants'
    report: MigrationReport  # its rows: the databases skipped (no entry for an alias)


@contextmanager
def reading_fleet(
    config: RouterConfig | None,
    selection: Selection,
    executor: ExecutorSpec,
    *,
    target: Sequence[str] = (),
) -> Iterator[FleetRead]:
    """The selected databases, their assistants (graphs loaded) and an executor; closed afterwards.

    Shared by `status`/`--plan` and `drift`: a read-only pass over every database.
    """
    fleet = Fleet.select(config, selection)
    executor.check()
    report = MigrationReport()  # collects the "skipped" rows; nothing is emitted anywhere
    setup = AssistantSetup(tuple(target))
    assistants = fleet.bind(setup, report, executor)
    keys: list[DbKey] = []
    for spec in fleet.specs:
        asst = assistants.get(spec.key)
        if not target and not asst.is_coarse():
            keys += [DbKey(spec.key, None, alias) for alias in asst.manager.reserved_aliases]
    found, unconfigured = fleet.tenant_databases()
    report_unconfigured(report, unconfigured)
    keys += found
    runner = make_executor(executor, assistants, report, setup)
    try:
        fleet.prepare()
        yield FleetRead(fleet.specs, assistants, runner, keys, report)
    finally:
        runner.close()
        assistants.close()
