"""Fixtures: Django started once with tests/trsite, tenant sites of real SQLite/PostgreSQL/MariaDB databases.

The helpers the fixtures are made of live in tests/support (see docs/testing.md).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
for path in (str(TESTS.parent / "examples" / "clinic"), str(TESTS)):
    if path not in sys.path:
        sys.path.insert(0, path)

from support.processes import forget_shell_settings  # noqa: E402

forget_shell_settings()
os.environ["DJANGO_SETTINGS_MODULE"] = "trsite.settings"

import django  # noqa: E402

django.setup()

from django.db import connections  # noqa: E402
from support.servers import MYSQL, POSTGRES, Server, require  # noqa: E402
from support.sites import TenantSite, activate, server_site, sqlite_site  # noqa: E402


@pytest.fixture
def site(tmp_path: Path) -> Iterator[TenantSite]:
    """Three SQLite tenants; TENANT_ROUTER_TENANT_CONFIG points at their configuration."""
    yield from activate(sqlite_site(tmp_path))


@pytest.fixture(params=["postgres", "mysql"])
def server(request: pytest.FixtureRequest) -> Server:
    """Each real database server in turn."""
    return require(POSTGRES if request.param == "postgres" else MYSQL)


@pytest.fixture
def server_site_factory(tmp_path: Path, server: Server) -> Iterator[Any]:
    """Make a site of `count` fresh databases on the current server; dropped afterwards."""
    with ExitStack() as stack:

        def make(count: int = 2) -> TenantSite:
            names = stack.enter_context(server.databases(count, prefix="trt"))
            site = server_site(tmp_path, server, names)
            gen = activate(site)
            stack.callback(lambda: next(gen, None))
            return next(gen)

        yield make
        connections.close_all()


@pytest.fixture(autouse=True, scope="session")
def template_prefix() -> Iterator[str]:
    """Template databases the session's creates build get a prefix of this session's own, and are
    dropped at its end (PostgreSQL and MariaDB)."""
    import uuid

    from django.test.utils import override_settings

    prefix = f"trt{uuid.uuid4().hex[:8]}"
    with override_settings(TENANT_ROUTER_TEMPLATE_PREFIX=prefix):
        yield prefix
    for server in (POSTGRES, MYSQL):
        if server.reachable() is not None:
            continue
        with contextlib.suppress(Exception):
            for name in server.named(prefix):
                server.drop_database(name)
