"""SQLite: databases are files, named by their absolute paths; copies go through the backup API.

A new file is first written under a temporary name in its destination folder, then given its name with
`os.link`, which never replaces a file that exists; comments live in a sidecar `<database>.json`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from urllib.parse import quote

from ..errors import CreateRefusedError, DatabaseExistsError, ProvisionError, TemplateBusyError
from ..safety.locks import SqliteLock
from .server_base import CreateOptions, DatabaseInfo, Server, polled

#: Files beside a database that belong to it (and go with it when it is dropped).
COMPANIONS = ("-journal", "-wal", "-shm", ".json")
#: Temporary files of a copy in progress: never listed as databases.
TEMP_PREFIX = ".tenant-router-"


class SqliteFiles(Server):
    """The SQLite "server" of one folder: templates live in it; tenant files may live anywhere."""

    backend = "sqlite"

    def __init__(self, folder: str) -> None:
        self.folder = os.path.abspath(folder)
        self.label = f"sqlite:{self.folder}"

    def path(self, name: str) -> str:
        """A database's absolute path (a relative name is taken inside the folder)."""
        return os.path.join(self.folder, name)  # join keeps an absolute name as it is

    def locate(self, name: str) -> str:
        return self.path(name)

    def exists(self, name: str) -> bool:
        return os.path.lexists(self.path(name))

    def create(self, name: str, options: CreateOptions, template: str | None = None) -> None:
        # Encoding and collation mean nothing to SQLite (UTF-8, collations are per column).
        target = self.path(name)
        if os.path.lexists(target):
            raise _exists(target)
        if template is None:
            try:
                os.close(
                    os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                )  # an empty file is an empty database
            except FileExistsError:
                raise _exists(target) from None
            except OSError as exc:
                raise _refused(target, exc) from exc
            return
        self._copy(self.path(template), target)

    def _copy(self, source: str, target: str) -> None:
        folder = os.path.dirname(target)
        try:
            fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=folder)
        except OSError as exc:
            raise _refused(target, exc) from exc
        os.close(fd)
        try:
            try:
                src = sqlite3.connect(f"file:{quote(source)}?mode=ro", uri=True)
                try:
                    dst = sqlite3.connect(temp)
                    try:
                        src.backup(dst)
                    finally:
                        dst.close()
                finally:
                    src.close()
            except sqlite3.Error as exc:
                raise CreateRefusedError(
                    f"cannot copy {source!r} to {target!r}: {exc}",
                    denied=False,
                    hint=f"nothing was made: {target!r} does not exist",
                ) from exc
            os.chmod(temp, 0o666 & ~_umask())  # mkstemp made it private; a new database file is not
            try:
                os.link(temp, target)  # never replaces a file that exists
            except FileExistsError:
                raise _exists(target) from None
            except OSError as exc:
                raise _refused(target, exc) from exc
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp)

    def drop(self, name: str) -> None:
        target = self.path(name)
        for path in (target, *(target + suffix for suffix in COMPANIONS)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def publish(self, building: str, final: str, comment: str) -> None:
        # The comment first, in the sidecar of a name nobody can open yet; then the file appears whole.
        source, target = self.path(building), self.path(final)
        if os.path.lexists(target):
            raise _exists(target)
        _checkpoint(source)
        self.set_comment(final, comment)
        try:
            os.link(source, target)
        except FileExistsError:
            raise _exists(target) from None
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(target + ".json")
            raise ProvisionError(f"cannot publish {source!r} as {target!r}: {exc.strerror}") from exc
        with contextlib.suppress(OSError):
            os.chmod(target, 0o444)  # nothing may write to a template
        self.drop(building)

    def databases(self, prefix: str, *, sizes: bool = True) -> list[DatabaseInfo]:
        full = self.path(prefix)
        folder, start = os.path.split(full)
        try:
            entries = sorted(os.listdir(folder))
        except FileNotFoundError:
            return []
        found = []
        for entry in entries:
            path = os.path.join(folder, entry)
            if not entry.startswith(start) or entry.startswith(TEMP_PREFIX) or entry.endswith(COMPANIONS):
                continue
            with contextlib.suppress(FileNotFoundError):
                found.append(DatabaseInfo(path, os.stat(path).st_size, self.comment(path)))
        return found

    def comment(self, name: str) -> str | None:
        try:
            with open(self.path(name) + ".json", encoding="utf-8") as sidecar:
                value = json.load(sidecar).get("comment")
        except (OSError, ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None

    def set_comment(self, name: str, comment: str) -> None:
        sidecar = self.path(name) + ".json"
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=os.path.dirname(sidecar))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"comment": comment}, out)
            os.replace(temp, sidecar)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    @contextlib.contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[None]:
        # An flock in the tool's lock folder (safety.locks), named by this folder and the key.
        held = SqliteLock(os.path.join(self.folder, f"{TEMP_PREFIX}provision-{key}"))
        with polled(held.try_acquire, held.release, timeout, f"lock {key!r} on {self.label}"):
            yield

    def close(self) -> None:
        pass


def _umask() -> int:
    """The process's umask, read without changing it (other threads may be creating files)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


def _checkpoint(path: str) -> None:
    """Fold a write-ahead log into the file, so that the file alone is the whole database."""
    if not os.path.exists(path + "-wal"):
        return
    conn = sqlite3.connect(path)
    try:
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy or conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] != "delete":
            raise TemplateBusyError(f"cannot publish {path!r}: another connection is still using it")
    finally:
        conn.close()


def _exists(path: str) -> DatabaseExistsError:
    return DatabaseExistsError(f"database file {path!r} exists already", hint="nothing was done to it")


def _refused(target: str, exc: OSError) -> CreateRefusedError:
    folder = os.path.dirname(target)
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return CreateRefusedError(f"cannot create {target!r}: folder {folder!r} does not exist", denied=False)
    if isinstance(exc, PermissionError):
        return CreateRefusedError(f"cannot create {target!r}: folder {folder!r} is not writable", denied=True)
    return CreateRefusedError(f"cannot create {target!r} in folder {folder!r}: {exc.strerror}", denied=False)
