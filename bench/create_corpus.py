"""New tenants at head on the real corpus: `tenant-router create` from a template, `--no-template`, and the
frameworks' own tools in a loop (one `django-admin migrate` + `alembic upgrade` pair per database).

    PYTHONPATH=$PWD:$PWD/tests .venv/bin/python bench/create_corpus.py --engine postgres --tenants 100 \
        [--no-template-tenants 5] [--oracle-tenants 5]

The corpus is tests/corpus (wagtail, taggit, social-auth, allauth, contrib and optuna's Alembic environment,
both ORMs in one database per tenant). The template run creates `--tenants` databases (the first pays the
template build, reported apart); `--no-template` and the oracle loop are slow (seconds per database), so
they run on fewer tenants and are compared per database. The first and last template copies are compared
with the oracle's database (schema, every row, counters) with tests/support/describe.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from support.corpus import SETTINGS, Db, corpus_env, oracle, run
from support.describe import differences
from support.processes import CLI
from support.servers import MYSQL, POSTGRES, require


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


class Bench:
    def __init__(self, engine: str, folder: Path) -> None:
        self.engine, self.folder = engine, folder
        self.server = None if engine == "sqlite" else require(POSTGRES if engine == "postgres" else MYSQL)
        self.prefix = f"trb{uuid.uuid4().hex[:6]}"
        self.made: list[Db] = []

    def new(self, label: str) -> Db:
        """A database name that does not exist yet."""
        if self.server is None:
            (self.folder / "tenants").mkdir(exist_ok=True)
            db = Db("sqlite", str(self.folder / "tenants" / f"{label}.sqlite3"))
        else:
            db = Db(self.engine, f"{self.prefix}_{label}", self.server)
        self.made.append(db)
        return db

    def create(self, dbs: list[Db], *options: str) -> tuple[float, list[dict]]:
        config = self.folder / f"tenants-{uuid.uuid4().hex[:6]}.json"
        doc = {"tenant_config": {f"t{i:04d}": db.tenant_entry() for i, db in enumerate(dbs)}}
        config.write_text(json.dumps(doc))
        env = corpus_env(
            self.engine, self.server, CORPUS_TENANT_CONFIG=str(config), CORPUS_TEMPLATE_PREFIX=self.prefix
        )
        command = [
            *CLI,
            "create",
            "--tenant",
            "*",
            "--settings",
            SETTINGS,
            "--json",
            "--no-journal",
            *options,
        ]
        began = time.monotonic()
        done = run(command, env, check=False)
        wall = time.monotonic() - began
        if done.returncode != 0:
            raise SystemExit(f"create {' '.join(options)} exited {done.returncode}: {done.stderr[-2000:]}")
        rows = [r for r in json.loads(done.stdout.splitlines()[-1])["results"] if r["orm"] == "django_orm"]
        return wall, rows

    def drop_all(self) -> None:
        for db in self.made:
            if self.server is None:
                Path(db.name).unlink(missing_ok=True)
                Path(db.name + ".json").unlink(missing_ok=True)
            else:
                self.server.drop_database(db.name)
        if self.server is not None:
            for name in self.server.named(self.prefix):
                self.server.drop_database(name)
        else:
            for path in (self.folder / "tenants").glob(f"{self.prefix}*"):
                path.chmod(0o644)
                path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="postgres", choices=("postgres", "mysql", "sqlite"))
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--no-template-tenants", type=int, default=5)
    parser.add_argument("--oracle-tenants", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-create-corpus-"))
    bench = Bench(args.engine, folder)
    try:
        copies = [bench.new(f"tpl{i:04d}") for i in range(args.tenants)]
        wall, rows = bench.create(copies)
        statuses = {r["status"] for r in rows}
        first, rest = rows[0]["seconds"], [r["seconds"] for r in rows[1:]]
        print(
            f"{args.engine} template    {len(rows)} tenants: wall {wall:.1f}s; first (builds the template) "
            f"{first:.2f}s; the others median {statistics.median(rest):.3f}s p95 {p95(rest):.3f}s "
            f"max {max(rest):.3f}s; statuses {sorted(statuses)}"
        )
        slow = [bench.new(f"mig{i:04d}") for i in range(args.no_template_tenants)]
        wall_m, rows_m = bench.create(slow, "--no-template")
        migrated = [r["seconds"] for r in rows_m]
        print(
            f"{args.engine} no-template {len(rows_m)} tenants: wall {wall_m:.1f}s; per database median "
            f"{statistics.median(migrated):.2f}s (a Django and an Alembic row share each database)"
        )
        oracle_seconds = []
        for i in range(args.oracle_tenants):
            db = bench.new(f"ora{i:04d}")
            if bench.server is not None:
                bench.server.create_database(db.name)
            began = time.monotonic()
            oracle(db, folder)
            oracle_seconds.append(time.monotonic() - began)
        print(
            f"{args.engine} frameworks' tools in a loop {len(oracle_seconds)} databases: median "
            f"{statistics.median(oracle_seconds):.2f}s per database"
        )
        copy_median = statistics.median(rest)
        print(
            f"speed-up per database: {statistics.median(oracle_seconds) / copy_median:.0f}x vs the frameworks' "
            f"tools, {statistics.median(migrated) / copy_median:.0f}x vs --no-template"
        )
        reference = bench.made[-1].describe()  # the oracle's last database
        for db in (copies[0], copies[-1]):
            diff = differences(db.describe(), reference)
            print(f"{db.name}: {'equal to the oracle' if not diff else 'DIFFERS: ' + diff[:2000]}")
    finally:
        bench.drop_all()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
