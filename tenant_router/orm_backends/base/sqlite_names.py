"""A relative SQLite database name, plain or a `file:` URI, is relative to the tenant configuration's folder."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlsplit


def sqlite_name_in(base_dir: Path | None, name: str, *, uri: bool) -> str:
    """`name` resolved against `base_dir`: `t.sqlite3` -> `/cfg/t.sqlite3`, `file:t.sqlite3?mode=rw` (a URI,
    `uri`) -> `file:/cfg/t.sqlite3?mode=rw` (query kept); absolute names and in-memory databases as given."""
    if base_dir is None or name in ("", ":memory:"):
        return name
    if uri and name.startswith("file:"):
        parts = urlsplit(name)
        if parts.netloc or parts.path.startswith("/") or parts.path in ("", ":memory:"):
            return name  # file:///abs, file:/abs, file::memory:
        if "mode=memory" in parts.query:
            return name  # a named in-memory database: no file anywhere
        return f"file:{quote(str(base_dir), safe='/')}/{name.removeprefix('file:')}"
    if Path(name).is_absolute():
        return name
    return str(base_dir / name)
