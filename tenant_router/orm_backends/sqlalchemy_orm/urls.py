"""SQLALCHEMY_DATABASES entries -> SQLAlchemy URLs: a URL, or the parts that differ from the template."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.util import asbool

from ..base import merge_db_config
from ..base.sqlite_names import sqlite_name_in

#: Entry keys naming one part of the URL; they override the parts of `URL` (the template's or their own).
URL_PARTS = {
    "DRIVERNAME": "drivername",
    "USERNAME": "username",
    "PASSWORD": "password",
    "HOST": "host",
    "PORT": "port",
    "DATABASE": "database",
    "QUERY": "query",
}
ENTRY_KEYS = frozenset({"URL", "ENGINE_OPTIONS", "CREATE", *URL_PARTS})


def merge_entry(template: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """`entry` over `template`; a tenant's own URL replaces the template's URL parts too."""
    if "URL" in entry:
        template = {k: v for k, v in template.items() if k not in URL_PARTS}
    return merge_db_config(template, entry)


def build_url(entry: Mapping[str, Any], base_dir: Path | None = None) -> URL:
    """The URL of a merged entry; a relative SQLite path is resolved against `base_dir`."""
    raw = entry.get("URL")
    if raw is None and "DRIVERNAME" not in entry:
        raise ValueError("no URL (neither the tenant nor the template sets URL or DRIVERNAME)")
    if raw is not None and not isinstance(raw, str | URL):
        raise ValueError(f"URL must be a string, got {type(raw).__name__}")
    url = make_url(raw) if raw is not None else URL.create(str(entry["DRIVERNAME"]))
    parts: dict[str, Any] = {attr: entry[key] for key, attr in URL_PARTS.items() if key in entry}
    if "port" in parts and parts["port"] is not None:
        parts["port"] = int(parts["port"])
    if parts:
        url = url.set(**parts)
    memory = url.query.get("mode") == "memory"  # a named in-memory database: no file anywhere
    if url.get_backend_name() == "sqlite" and url.database and not memory:  # relative to the config file
        uri = asbool(url.query.get("uri", False))
        url = url.set(database=sqlite_name_in(base_dir, url.database, uri=uri))
    return url


def render(url: URL) -> str:
    """The URL as a string SQLAlchemy can connect with (password included: never show it)."""
    return url.render_as_string(hide_password=False)


def describe_url(url: URL) -> str:
    """`sqlite /path` or the URL with its password hidden."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite {url.database or ':memory:'}"
    return url.render_as_string(hide_password=True)
