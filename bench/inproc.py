"""Baseline `inproc`: one Python process migrating every tenant with call_command + alembic upgrade.

Run with BENCH_ALL_TENANTS=1 (every tenant is a Django alias `t<i>`), DJANGO_SETTINGS_MODULE and
BENCH_TENANT_CONFIG set; bench/provision.py also uses it to bring the golden tenant to a state.
"""

from __future__ import annotations

import argparse
import json
import os

import django
from alembic import command
from alembic.config import Config


def tenants(config_path: str) -> list[tuple[str, str]]:
    """(Django alias, SQLAlchemy URL) of every tenant in the tenant configuration."""
    with open(config_path, encoding="utf-8") as fh:
        doc = json.load(fh)["tenant_config"]
    out = []
    for tenant, entry in doc.items():
        (service,) = entry.values()
        out.append(
            (tenant.replace("tenant-", "t"), service["orm_config"]["sqlalchemy_orm"]["default"]["URL"])
        )
    return out


def migrate_django(alias: str, target: tuple[str, str] | None) -> None:
    """`manage.py migrate --database alias` in process (then back to `target`, if given)."""
    from django.core.management import call_command
    from django.db import connections

    os.environ["BENCH_MIGRATE_ALIAS"] = alias  # the example's baseline router reads it
    try:
        call_command("migrate", database=alias, verbosity=0, interactive=False)
        if target is not None:
            call_command("migrate", *target, database=alias, verbosity=0, interactive=False)
    finally:
        connections[alias].close()  # 1,000 open connections would exhaust max_connections


def migrate_alembic(ini: str, url: str, target: str) -> None:
    """`alembic upgrade <target>` for one database URL, in process."""
    cfg = Config(ini, cmd_opts=argparse.Namespace(x=[f"url={url}"]))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, target)


def main() -> None:
    """Migrate every tenant of BENCH_TENANT_CONFIG (and the reserved `central` alias, if it exists)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--alembic-ini", required=True)
    parser.add_argument("--django-target", help="app:migration to stop at (default: latest)")
    parser.add_argument("--alembic-target", default="heads")
    parser.add_argument("--no-alembic", action="store_true")
    args = parser.parse_args()
    django.setup()
    from django.conf import settings

    if "central" in settings.DATABASES:
        migrate_django("central", None)
    target = tuple(args.django_target.split(":", 1)) if args.django_target else None
    for alias, url in tenants(os.environ["BENCH_TENANT_CONFIG"]):
        migrate_django(alias, target)  # type: ignore[arg-type]
        if not args.no_alembic:
            migrate_alembic(args.alembic_ini, url, args.alembic_target)


if __name__ == "__main__":
    main()
