"""How a run was asked for, as the journal's header keeps it: names and numbers, never a URL or password."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..executors import ExecutorSpec, resolve_jobs
from .requests import RunPolicy, Selection


def run_options(selection: Selection, policy: RunPolicy, executor: ExecutorSpec) -> dict[str, Any]:
    """The selection, the executor (jobs resolved to a number) and the rules of a run, JSON-ready."""
    redo = selection.databases is not None or selection.only_tenants is not None
    return {
        "selection": {
            "orms": list(selection.orms),
            "tenants": list(selection.tenants),
            "exclude": list(selection.exclude),
            "shard": selection.shard,
            "only_failed": redo,
        },
        "executor": {
            "name": executor.name,
            "jobs": resolve_jobs(executor.jobs) if executor.name == "processes" else None,
            "max_per_host": executor.max_per_host,
            "queue": executor.queue,
        },
        "policy": {
            "target": list(policy.target),
            "canary": policy.canary,
            "fail_fast": policy.fail_fast,
            "max_failures": policy.max_failures,
            "refuse_drift": policy.refuse_drift,
            "create_missing": policy.create_missing,
            "locks": {k: v for k, v in asdict(policy.locks).items() if v is not None},
        },
    }
