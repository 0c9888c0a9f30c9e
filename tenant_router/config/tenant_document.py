"""TENANT_ROUTER_TENANT_CONFIG: the tenant document (a JSON file, a callable or a dict), shape-checked."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from django.utils.module_loading import import_string

from ..errors import ConfigurationError
from ..quoting import quoted
from ..safety.redact import REDACTOR
from .model import TenantConfig

TENANT_CONFIG = "TENANT_ROUTER_TENANT_CONFIG"
_DOTTED = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")
#: Deeper than this is not a configuration anyone meant (and would overflow recursive code later).
MAX_DEPTH = 32


def _setting(settings: Any, name: str, default: Any = None) -> Any:
    return getattr(settings, name, default)


def _read_tenant_document(source: Any, settings: Any) -> tuple[Any, str, Path | None]:
    """Return (document, description, base dir) from a path, a dotted callable, or a mapping."""
    if isinstance(source, Mapping):
        return source, TENANT_CONFIG, None
    if callable(source):
        return (
            _call_source(source, getattr(source, "__qualname__", repr(source))),
            TENANT_CONFIG,
            None,
        )
    base_dir = _setting(settings, "BASE_DIR")
    if isinstance(source, str) and _DOTTED.match(source) and not source.endswith(".json"):
        try:
            func = import_string(source)
        except ImportError as exc:
            raise ConfigurationError(
                f"{TENANT_CONFIG} = {source!r} cannot be imported: {exc}.", check_id="E007"
            ) from exc
        if not callable(func):
            raise ConfigurationError(f"{TENANT_CONFIG} = {source!r} is not callable.", check_id="E007")
        return _call_source(func, source), source, None
    if not isinstance(source, str | Path):
        raise ConfigurationError(
            f"{TENANT_CONFIG} must be a file path, a dotted path to a callable, or a dict.",
            check_id="E007",
        )
    path = Path(source)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"Tenant configuration file {str(path)!r} cannot be read: {exc.strerror or exc}.",
            hint=f"Set {TENANT_CONFIG} to the file's path (default: tenant_config.json in BASE_DIR).",
            check_id="E007",
        ) from exc
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0  # as some editors save UTF-8
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = bom + exc.start
        line = data.count(b"\n", 0, at) + 1
        raise ConfigurationError(
            f"Tenant configuration file {str(path)!r} is not UTF-8 text: byte 0x{data[at]:02x} "
            f"(line {line}, byte {at + 1}) cannot be decoded.",
            hint="Save the file as UTF-8 (JSON text is UTF-8).",
            check_id="E007",
        ) from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys), str(path), path.parent
    except DuplicateKeyError as exc:
        raise ConfigurationError(
            f"Tenant configuration file {str(path)!r}: key {quoted(exc.key)} appears more than once in one "
            "object (JSON would keep only the last).",
            check_id="E008",
        ) from None
    except RecursionError:
        raise ConfigurationError(
            f"Tenant configuration file {str(path)!r}: {_too_deep_in_text(text)}.", check_id="E008"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"Tenant configuration file {str(path)!r} is not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno}).",
            check_id="E007",
        ) from exc


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads' object_pairs_hook: an object as a dict, refusing a key it names twice (at any depth)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def _key_path(keys: Iterable[Any], limit: int = 6) -> str:
    """`tenant_config.t1.clinic.orm_config…` (the first keys of a long path, then an ellipsis)."""
    keys = [str(k) for k in keys]
    shown = ".".join(keys[:limit])
    return shown + ("…" if len(keys) > limit else "")


def _too_deep_in_text(text: str) -> str:
    """Where a JSON text first nests deeper than MAX_DEPTH: its key path, line and column."""
    keys: list[str] = []
    depth, last, in_string, escaped, start = 0, "", False, False, 0
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string, last = False, text[start + 1 : i]
        elif ch == '"':
            in_string, start = True, i
        elif ch == ":":
            keys[depth - 1 :] = [last]
        elif ch in "{[":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, i) + 1
                column = i - text.rfind("\n", 0, i)
                where = f"at {_key_path(keys)} " if keys else ""
                return f"nested more than {MAX_DEPTH} levels deep {where}(line {line}, column {column})"
        elif ch in "}]":
            depth -= 1
            del keys[depth:]
    return f"nested more than {MAX_DEPTH} levels deep"


def _check_depth(tenant: str, entry: Any, where: str) -> None:
    """A tenant entry nested deeper than MAX_DEPTH is an error naming the tenant and the key path."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(entry, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise ConfigurationError(
                f"Tenant configuration {where!r}: tenant {quoted(tenant)} is nested more than {MAX_DEPTH} "
                f"levels deep at {_key_path(path)}.",
                check_id="E008",
            )
        if isinstance(node, Mapping):
            stack.extend((v, (*path, k)) for k, v in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((v, (*path, i)) for i, v in enumerate(node))


def _call_source(func: Callable[[], Any], name: str) -> Any:
    try:
        return func()
    except Exception as exc:
        raise ConfigurationError(
            f"{TENANT_CONFIG} callable {name!r} raised {type(exc).__name__}: {REDACTOR(str(exc))}.",
            check_id="E007",
        ) from exc


def load_tenant_config(settings: Any) -> TenantConfig:
    """Read and shape-check the tenant configuration document."""
    source = _setting(settings, TENANT_CONFIG, "tenant_config.json")
    document, where, base_dir = _read_tenant_document(source, settings)
    tenants = document.get("tenant_config") if isinstance(document, Mapping) else None
    if not isinstance(tenants, Mapping):
        raise ConfigurationError(
            f'Tenant configuration {where!r} has no "tenant_config" object at its top level.',
            hint='Expected {"tenant_config": {"<tenant id>": {"<service name>": {"orm_config": {...}}}}}.',
            check_id="E008",
        )
    for tenant, entry in tenants.items():
        if not isinstance(tenant, str) or not tenant.strip():
            raise ConfigurationError(f"Tenant configuration {where!r}: empty tenant id.", check_id="E008")
        if not isinstance(entry, Mapping):
            raise ConfigurationError(
                f"Tenant configuration {where!r}: tenant {quoted(tenant)} must map service names to objects, "
                f"got {type(entry).__name__}.",
                check_id="E008",
            )
        _check_depth(tenant, entry, where)
        for service, service_entry in entry.items():
            orm_config = service_entry.get("orm_config") if isinstance(service_entry, Mapping) else None
            if not isinstance(orm_config, Mapping) or not all(
                isinstance(v, Mapping) for v in orm_config.values()
            ):
                raise ConfigurationError(
                    f"Tenant configuration {where!r}: tenant {quoted(tenant)}, service {quoted(service)} needs an "
                    '"orm_config" object mapping ORM keys to {alias: settings} objects.',
                    check_id="E008",
                )
    return TenantConfig(where, base_dir, tenants)
