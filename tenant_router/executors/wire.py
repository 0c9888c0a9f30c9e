"""Events and verdicts as JSON, for executors whose workers live in other processes or machines.

Only names and numbers travel (ORM keys, tenant ids, aliases, step names, one-line errors): never a
connection setting. Every message is passed through the redactor before it leaves the process, so a
password that found its way into an error text is masked there too.
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from typing import Any, get_args

from ..preflight import Inspection, Unreachable, Verdict
from ..record.events import MigrationEvent, Status
from ..record.keys import DbKey
from ..safety.redact import REDACTOR
from .tasks import Task

_EVENTS: dict[str, Any] = {cls.kind: cls for cls in get_args(MigrationEvent)}
#: Names repeated across thousands of databases (a run keeps them in its report rows and verdicts):
#: one string each in the run's process, not one per database.
_SHARED = frozenset({"orm", "alias", "step", "current"})


def dumps(message: dict[str, Any]) -> str:
    """A message as JSON text, passwords masked."""
    return REDACTOR.stream(json.dumps(message, separators=(",", ":"), ensure_ascii=False))


def encode_event(event: MigrationEvent) -> dict[str, Any]:
    """An event as a JSON-ready dict (the traceback included)."""
    data: dict[str, Any] = {"kind": event.kind}
    for item in fields(event):
        value = getattr(event, item.name)
        data[item.name] = list(value) if isinstance(value, tuple) else value
    return data


def decode_event(data: dict[str, Any]) -> MigrationEvent:
    """The inverse of encode_event."""
    cls = _EVENTS[data["kind"]]
    values: dict[str, Any] = {}
    for item in fields(cls):
        if item.name not in data:
            continue
        value = data[item.name]
        if item.name == "status":
            value = Status(value)
        elif isinstance(value, list):
            value = tuple(value)
        elif item.name in _SHARED and isinstance(value, str):
            value = sys.intern(value)
        values[item.name] = value
    event: MigrationEvent = cls(**values)
    return event


def encode_verdict(verdict: Verdict) -> dict[str, Any] | None:
    """A pre-flight verdict as a JSON-ready dict."""
    if isinstance(verdict, Inspection):
        return {
            "pending": list(verdict.pending),
            "current": verdict.current,
            "irreversible": list(verdict.irreversible),
        }
    if isinstance(verdict, Unreachable):
        return {"unreachable": verdict.error, "label": verdict.label, "message": verdict.message}
    return None


def decode_verdict(data: dict[str, Any] | None) -> Verdict:
    """The inverse of encode_verdict."""
    if data is None:
        return None
    if "unreachable" in data:
        return Unreachable(data["unreachable"], data["label"], data.get("message"))
    current = data["current"]
    return Inspection(
        tuple(data["pending"]),
        None if current is None else sys.intern(current),
        tuple(data["irreversible"]),
    )


def encode_task(task: Task) -> dict[str, Any]:
    """A task as the worker receives it. Names only: the server its databases live on stays in the
    run's process (the per-server cap is counted there)."""
    return {
        "id": task.id,
        "kind": task.kind,
        "units": [encode_key(k) for k in task.units],
        "host": None,
        "settle": task.settle,
    }


def decode_task(data: dict[str, Any]) -> Task:
    """The inverse of encode_task (the run's task id kept)."""
    units = tuple(decode_key(k) for k in data["units"])
    return Task(data["kind"], units, data["host"], data["settle"], id=data["id"])


def encode_key(key: DbKey) -> list[str | None]:
    """(orm, tenant, alias) as a JSON list."""
    return list(key)


def decode_key(data: list[Any]) -> DbKey:
    """The inverse of encode_key."""
    orm, tenant, alias = data
    return DbKey(orm, tenant, alias)
