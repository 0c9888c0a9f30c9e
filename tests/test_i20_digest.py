"""Issue 20, item 2: "workers on other code" means other file contents, not other migration names.

The Celery code check and the template key are one digest (`Assistants.schema_digest`): the contents of
every Django migration file and Alembic revision, env.py and the ini file, the models post_migrate
writes rows for, and the ORM options that decide the schema; never file times or where the project lives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import processes
from support.celery_workers import Workers, redis_db, require_redis, unique_queue
from support.clinic import clinic_copy, migrate_args, write_django_tenants
from support.servers import POSTGRES, pg_query, require

from tenant_router_cli.exit_codes import ExitCode

DIGESTS = """
import json, os, sys
from pathlib import Path

from tenant_router.config.loader import load_config
from tenant_router.orm_backends.assistants import Assistants


def digests():
    config = load_config()
    assistants = Assistants(config)  # a fresh one: the digest is memoized once per run
    return {spec.key: assistants.schema_digest(spec.key) for spec in config.orms(())}


files = [Path("patients/migrations/0002_seed_wards.py"), *Path("alembic/versions").glob("*.py")]
before = digests()
for path in files:  # other times, same bytes
    os.utime(path, (1_000_000_000, 1_000_000_000))
touched = digests()
for path in (files[0], Path("alembic/versions/7c4d2e8a5f22_seed_tariffs.py")):  # one byte each
    data = bytearray(path.read_bytes())
    data[data.index(b"a")] = ord("b")
    path.write_bytes(bytes(data))
changed = digests()
print(json.dumps({"before": before, "touched": touched, "changed": changed}))
"""


def digests_of(example: Path) -> dict[str, dict[str, str]]:
    done = processes.run(
        [processes.sys.executable, "-c", DIGESTS],
        example,
        env=processes.clean_environment(example, DJANGO_SETTINGS_MODULE="clinic.settings"),
        check=True,
    )
    result: dict[str, dict[str, str]] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_digest_follows_file_contents_not_file_times(tmp_path: Path) -> None:
    seen = digests_of(clinic_copy(tmp_path))

    assert set(seen["before"]) == {"django_orm", "sqlalchemy_orm"}
    assert all(seen["before"].values())
    assert seen["touched"] == seen["before"]  # mtimes are not contents
    for orm in ("django_orm", "sqlalchemy_orm"):  # one byte of one migration file is other code
        assert seen["changed"][orm] != seen["before"][orm], orm


def test_the_digest_does_not_depend_on_where_the_project_lives(tmp_path: Path) -> None:
    """Two deploys of one release in other folders, ALEMBIC_INI given as an absolute path: one digest."""
    copies = [clinic_copy(tmp_path / side) for side in ("here", "there")]
    for example in copies:
        settings = example / "clinic" / "settings.py"
        text = settings.read_text().replace(
            '{"ALEMBIC_INI": "alembic.ini"}', '{"ALEMBIC_INI": BASE_DIR / "alembic.ini"}'
        )
        assert 'BASE_DIR / "alembic.ini"' in text
        settings.write_text(text)

    here, there = (digests_of(example)["before"] for example in copies)

    assert here == there


# -- a real worker on a copy of the project --------------------------------------------------
OTHER_SEED = '["General", "Paediatrics", "Cardiology", "Oncology"]'


@pytest.fixture
def broker() -> int:
    require_redis()
    require(POSTGRES)
    return redis_db()


@pytest.fixture
def workers(tmp_path: Path, broker: int) -> Iterator[list[Workers]]:
    started: list[Workers] = []
    yield started
    for group in started:
        group.stop_all()


def worker_on(copy: Path, broker: int, started: list[Workers], name: str) -> Workers:
    group = Workers(copy, unique_queue(), broker)
    started.append(group)
    group.start(name)
    return group


def celery_migrate(
    run_from: Path, workers: Workers, journal: Path
) -> processes.subprocess.CompletedProcess[str]:
    argv = migrate_args(run_from, journal, "--executor", "celery", "--celery-app", "clinic.celery:app")
    return processes.run([*argv, "--queue", workers.queue], run_from, env=workers.env())


def test_a_worker_whose_migration_body_differs_under_the_same_name_is_refused(
    tmp_path: Path, broker: int, workers: list[Workers]
) -> None:
    ours = clinic_copy(tmp_path / "deploy")
    theirs = clinic_copy(tmp_path / "worker")  # the same migration names, another 0002 body
    seed = theirs / "patients" / "migrations" / "0002_seed_wards.py"
    text = seed.read_text()
    seed.write_text(text.replace('["General", "Paediatrics", "Cardiology"]', OTHER_SEED))
    assert seed.read_text() != text
    other = worker_on(theirs, broker, workers, "other1")

    with POSTGRES.databases(2, prefix="trdig") as pg:
        for example in (ours, theirs):
            write_django_tenants(
                example, {"a": POSTGRES.django_settings(pg[0]), "b": POSTGRES.django_settings(pg[1])}
            )
        done = celery_migrate(ours, other, tmp_path / "journal")
        touched = [
            pg_query(name, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") for name in pg
        ]

    assert done.returncode == ExitCode.EXECUTOR == 7, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    assert re.match(r"error: Celery worker other1@\S+ runs other code: its django_orm migrations", lines[0])
    assert "(content digest " in lines[0]
    assert "Traceback" not in done.stderr
    assert touched == [[(0,)], [(0,)]]  # no tenant was migrated by it (nor by anyone)


def test_a_worker_on_the_same_release_in_another_folder_is_not_refused(
    tmp_path: Path, broker: int, workers: list[Workers]
) -> None:
    ours = clinic_copy(tmp_path / "deploy")
    theirs = clinic_copy(tmp_path / "elsewhere" / "srv")  # byte for byte the same release
    same = worker_on(theirs, broker, workers, "same1")

    with POSTGRES.databases(1, prefix="trdig") as pg:
        for example in (ours, theirs):
            write_django_tenants(example, {"a": POSTGRES.django_settings(pg[0])})
        done = celery_migrate(ours, same, tmp_path / "journal")
        wards = pg_query(pg[0], "SELECT name FROM patients_ward ORDER BY name")

    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert wards == [("Cardiology",), ("General",), ("Paediatrics",)]
