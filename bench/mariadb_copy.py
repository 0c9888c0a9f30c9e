"""By hand: how to make a new tenant database at head on MariaDB (and PostgreSQL's two TEMPLATE strategies).

Migrates the real third-party corpus (tests/corpus: wagtail, taggit, social-auth, allauth, contrib, and
optuna's Alembic environment) into one MariaDB database with the frameworks' own tools, then times, for
`--rounds` new databases each (interleaved, each dropped after it is timed):

* `copy`: tenant_router.provision's MariaDB copy (SHOW CREATE TABLE + INSERT ... SELECT per table);
* `dump`: `mysqldump | mysql` into a database created with the same character set and collation;
* `migrate`: `django-admin migrate` + `alembic upgrade` from empty (two processes, as the corpus oracle);

and checks each way's first result against the source with tests/support/describe.py (schema, engine
catalogue with AUTO_INCREMENT, every row). With `--engines mysql,postgres`, it also migrates the corpus into PostgreSQL
and times `CREATE DATABASE ... TEMPLATE` with STRATEGY WAL_LOG (the default) and FILE_COPY.

    PYTHONPATH=$PWD:$PWD/tests .venv/bin/python bench/mariadb_copy.py --rounds 10 [--engines mysql,postgres]
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from support.corpus import Db, Store, oracle, token
from support.describe import describe, differences
from support.servers import MYSQL, POSTGRES

from tenant_router.provision.servers import CreateOptions, open_server


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[math.ceil(0.95 * len(ordered)) - 1]  # nearest rank: the largest of 10
    return f"median {statistics.median(ordered):7.3f} s   p95 {p95:7.3f} s   (n={len(ordered)})"


def dump_copy(source: str, target: str) -> None:
    """mysqldump | mysql, into a database made with the source's character set and collation."""
    p = MYSQL.parts
    auth = [
        "-h",
        p["host"],
        "-P",
        p["port"],
        "-u",
        p["user"],
        *([f"-p{p['password']}"] if p["password"] else []),
    ]
    charset = MYSQL.admin().cursor()
    charset.execute(
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA"
        " WHERE SCHEMA_NAME = %s",
        (source,),
    )
    cs, co = charset.fetchone()
    MYSQL.execute(f"CREATE DATABASE `{target}` CHARACTER SET {cs} COLLATE {co}")
    dump = subprocess.Popen(
        ["mysqldump", *auth, "--single-transaction", "--routines", "--events", "--triggers", source],
        stdout=subprocess.PIPE,
    )
    subprocess.run(["mysql", *auth, target], stdin=dump.stdout, check=True)
    dump.stdout.close()  # type: ignore[union-attr]
    if dump.wait() != 0:
        raise RuntimeError("mysqldump failed")


def parity(source: Db, copy: Db) -> str:
    found = differences(describe(source.url), describe(copy.url))
    return "same as the source" if not found else f"DIFFERS: {found[:3]}"


def mariadb(rounds: int, folder: Path) -> None:
    store = Store("mysql", folder)
    try:
        golden = store.new("golden")
        print(f"migrating the corpus into MariaDB {golden.name} ...", flush=True)
        print(f"  first migration from empty: {timed(lambda: oracle(golden, folder)):.1f} s", flush=True)
        server = open_server("mysql", lambda: MYSQL.admin(), "mysql://root@127.0.0.1:3306")
        size = sum(i.size or 0 for i in server.databases(golden.name))
        tables = server.scalar(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (golden.name,)
        )
        print(f"  {tables} tables, {size / 1e6:.1f} MB (information_schema estimate)")
        ways: dict[str, Callable[[str], None]] = {
            "copy": lambda name: server.create(name, CreateOptions(), template=golden.name),
            "migrate": lambda name: (MYSQL.create_database(name), oracle(Db("mysql", name, MYSQL), folder)),
        }
        if shutil.which("mysqldump") and shutil.which("mysql"):
            ways["dump"] = lambda name: dump_copy(golden.name, name)
        else:
            print("  mysqldump/mysql client tools are not installed: no `dump` contender")
        samples: dict[str, list[float]] = {way: [] for way in ways}
        checked: dict[str, str] = {}
        for round_ in range(rounds):
            for way, make in ways.items():
                target = Db("mysql", f"trb_{way}_{token()}", MYSQL)
                store.made.append(target)
                samples[way].append(timed(lambda make=make, target=target: make(target.name)))
                if round_ == 0:
                    checked[way] = parity(golden, target)
                store.drop(target)
            print(
                f"  round {round_ + 1}: " + ", ".join(f"{w} {s[-1]:.2f} s" for w, s in samples.items()),
                flush=True,
            )
        print("MariaDB, one new database at head:")
        for way, values in samples.items():
            print(f"  {way:8} {summary(values)}   {checked[way]}")
        server.close()
    finally:
        store.close()


def postgres(rounds: int, folder: Path) -> None:
    store = Store("postgres", folder)
    try:
        golden = store.new("golden")
        print(f"migrating the corpus into PostgreSQL {golden.name} ...", flush=True)
        print(f"  first migration from empty: {timed(lambda: oracle(golden, folder)):.1f} s", flush=True)
        time.sleep(1)  # the oracle's sessions are gone before the first TEMPLATE copy
        conn = POSTGRES.admin()
        size = conn.execute("SELECT pg_database_size(%s)", (golden.name,)).fetchone()[0]
        conn.close()
        print(f"  {size / 1e6:.1f} MB (pg_database_size)")
        samples: dict[str, list[float]] = {"WAL_LOG": [], "FILE_COPY": []}
        for _ in range(rounds):
            for strategy, values in samples.items():
                name = f"trb_{strategy.lower()}_{token()}"
                sql = f'CREATE DATABASE "{name}" TEMPLATE "{golden.name}" STRATEGY {strategy}'
                values.append(timed(lambda sql=sql: POSTGRES.execute(sql)))
                POSTGRES.drop_database(name)
        print("PostgreSQL, CREATE DATABASE ... TEMPLATE of the same corpus database:")
        for strategy, values in samples.items():
            print(f"  {strategy:9} {summary(values)}")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--engines", default="mysql", help="mysql, postgres (TEMPLATE strategies) or both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if "mysql" in args.engines:
            mariadb(args.rounds, Path(folder))
        if "postgres" in args.engines:
            postgres(args.rounds, Path(folder))


if __name__ == "__main__":
    sys.exit(main())
