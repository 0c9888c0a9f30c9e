"""Tenant selection: globs, @file lists, exclusions and shards (pure functions and through the CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.sites import TenantSite

from tenant_router.errors import SelectionError, UsageError
from tenant_router.run.selection import select_tenants
from tenant_router_cli.exit_codes import ExitCode

IDS = [f"acme-{i}" for i in range(5)] + [f"globex-{i}" for i in range(5)] + ["initech"]


def test_globs_and_ids() -> None:
    assert select_tenants(IDS, ["globex-*", "initech"]) == [*IDS[5:]]
    assert select_tenants(IDS, ["acme-[12]"], ["acme-2"]) == ["acme-1"]
    assert select_tenants(IDS, exclude=["acme-*", "globex-*"]) == ["initech"]


def test_at_file_lists(tmp_path: Path) -> None:
    listing = tmp_path / "wave-1.txt"
    listing.write_text("# first wave\nacme-3\n\nglobex-?\n")

    assert select_tenants(IDS, [f"@{listing}"]) == ["acme-3", *IDS[5:10]]
    with pytest.raises(UsageError, match="cannot read"):
        select_tenants(IDS, [f"@{tmp_path / 'missing.txt'}"])


def test_unknown_ids_and_empty_patterns_are_errors() -> None:
    with pytest.raises(SelectionError, match="Unknown tenant 'acme-9'"):
        select_tenants(IDS, ["acme-9"])
    with pytest.raises(SelectionError, match="matches no tenant"):
        select_tenants(IDS, ["umbrella-*"])


@pytest.mark.parametrize("count", range(1, 8))
def test_shards_are_disjoint_and_cover_every_tenant(count: int) -> None:
    ids = [f"tenant-{i:04d}" for i in range(500)]
    shards = [select_tenants(ids, shard=f"{i}/{count}") for i in range(1, count + 1)]

    assert sorted(t for shard in shards for t in shard) == sorted(ids)
    assert sum(len(s) for s in shards) == len(ids)
    if count > 1:
        assert min(len(s) for s in shards) > 0.5 * len(ids) / count  # roughly even
    assert shards == [select_tenants(ids, shard=f"{i}/{count}") for i in range(1, count + 1)]  # stable


@pytest.mark.parametrize("bad", ["0/3", "4/3", "x", "1/0", "2-3"])
def test_bad_shards_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        select_tenants(IDS, shard=bad)


def test_cli_selection_with_a_pattern_and_a_shard(site: TenantSite) -> None:
    result = site.invoke("migrate", "--settings", site.settings_module, "--tenant", "tenant-[23]", "--json")

    assert result.exit_code == ExitCode.OK
    assert [bool(db.table_names()) for db in site.databases] == [False, True, True], result.stdout
    bad = site.invoke("migrate", "--settings", site.settings_module, "--shard", "4/3")
    assert bad.exit_code == ExitCode.USAGE and "--shard '4/3'" in bad.stderr
