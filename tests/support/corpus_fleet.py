"""A fleet of corpus tenants in a tenant_config.json of their own, migrated by real tenant-router processes
and compared, tenant by tenant, with what the oracle made from the same starting state (support/corpus.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from support.corpus import CORPUS, SETTINGS, Corpus, Db, corpus_env, run, token
from support.describe import differences
from support.processes import CLI


@dataclass
class Tenant:
    """One tenant of a fleet: its id, the state it started from, its database."""

    id: str
    state: str
    db: Db


@dataclass
class Fleet:
    """Tenants of one engine in a tenant_config.json of their own, migrated by real tenant-router processes."""

    corpus: Corpus
    folder: Path
    tenants: list[Tenant] = field(default_factory=list)
    template: Db | None = None  # None: a template database that does not exist
    template_port: str | None = None
    share_states: bool = True
    template_prefix: str = ""  # TENANT_ROUTER_TEMPLATE_PREFIX of the runs ("": the default)

    @property
    def engine(self) -> str:
        return self.corpus.engine

    @property
    def config_path(self) -> Path:
        return self.folder / "tenant_config.json"

    @cached_property
    def never_created(self) -> Db:
        """The template every run is given unless the test sets one: a database nobody creates."""
        if self.engine == "sqlite":
            folder = self.folder / "never-created"
            folder.mkdir(exist_ok=True)  # stays empty: opening the template would create the file
            return Db("sqlite", str(folder / "template.sqlite3"))
        return Db(self.engine, f"trc_never_created_{token()}", self.corpus.store.server)

    def add(self, state: str) -> Tenant:
        tenant = Tenant(f"tenant-{len(self.tenants) + 1}", state, self.corpus.copy(state, f"tenant_{state}"))
        self.tenants.append(tenant)
        return tenant

    def write(self) -> None:
        doc = {"tenant_config": {t.id: t.db.tenant_entry() for t in self.tenants}}
        self.config_path.write_text(json.dumps(doc, indent=2))

    def env(self) -> dict[str, str]:
        template = self.template or self.never_created
        extra = {"CORPUS_TENANT_CONFIG": str(self.config_path), "CORPUS_TEMPLATE": template.name}
        if self.template_port:
            extra["CORPUS_TEMPLATE_PORT"] = self.template_port
        if self.template_prefix:
            extra["CORPUS_TEMPLATE_PREFIX"] = self.template_prefix
        if not self.share_states:
            extra["CORPUS_SHARE_STATES"] = "0"
        return corpus_env(self.engine, self.corpus.store.server, **extra)

    def migrate(self, *options: str) -> Run:
        """`tenant-router migrate --settings corpussite.settings --no-progress --json [options]`."""
        self.write()
        command = [*CLI, "migrate", "--settings", SETTINGS]
        return Run(run([*command, "--no-progress", "--json", *options], self.env(), check=False))

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`python manage.py ...` of the corpus project, over this fleet."""
        self.write()
        return run([sys.executable, str(CORPUS / "manage.py"), *args], self.env(), check=False)

    def mismatches(self, *, skip: Sequence[str] = ()) -> str:
        """How each tenant's describe() differs from the oracle's from the same start ('' when none)."""
        found = []
        for tenant in self.tenants:
            if tenant.id not in skip:
                diff = differences(tenant.db.describe(), self.corpus.expected(tenant.state))
                found += [f"{tenant.id} ({tenant.state}) vs oracle: {line}" for line in diff.splitlines()]
        return "\n".join(found)

    def template_untouched(self) -> bool:
        """The never-created template is still not there."""
        if self.engine == "sqlite":
            return not any(Path(self.never_created.name).parent.iterdir())
        return True  # a server database of that name cannot come into being by connecting to it

    def close(self) -> None:
        for tenant in self.tenants:
            self.corpus.store.drop(tenant.db)


@dataclass
class Run:
    """A finished tenant-router process and its JSON report."""

    process: subprocess.CompletedProcess[str]

    @property
    def returncode(self) -> int:
        return self.process.returncode

    @cached_property
    def report(self) -> dict[str, Any]:
        lines = [line for line in self.process.stdout.splitlines() if line.startswith("{")]
        report = json.loads(lines[-1]) if lines else {}
        return report if report.get("event") == "report" else {}

    def rows(self, orm: str = "django_orm") -> dict[str, dict[str, Any]]:
        """Each tenant's result row for `orm`."""
        return {r["tenant"]: r for r in self.report.get("results", []) if r["orm"] == orm and r["tenant"]}

    def failures(self) -> list[str]:
        return [
            f"{r['orm']} {r['tenant']}/{r['alias']} at {r['failed_step']}: {r['error']}"
            for r in self.report.get("results", [])
            if r["status"] == "failed"
        ]

    def __repr__(self) -> str:
        return f"Run(exit {self.returncode})"

    @property
    def why(self) -> str:
        """What went wrong, for an assertion message: each failure, or the end of stderr."""
        shown = "\n".join(self.failures()) if self.report else self.process.stderr[-3000:]
        return f"tenant-router exited {self.returncode}\n{shown}"


@contextmanager
def fleet(corpus: Corpus, folder: Path, states: Sequence[str], **options: Any) -> Iterator[Fleet]:
    """A fleet of one tenant per state (copies of the corpus's starting states); dropped afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    made = Fleet(corpus, folder, **options)
    try:
        for state in states:
            made.add(state)
        yield made
    finally:
        made.close()
