"""Template databases at head: built once per server and per digest of what decides the schema, then
copied into each new tenant database, and every copy verified before it is reported created.

A template is named `<prefix>_<digest>` (TENANT_ROUTER_TEMPLATE_PREFIX, "tr_tpl"); it is built under a
unique name by migrating an empty database through the ORMs' own code with no tenant bound, read (its
schema fingerprint, the drift detector's), then published whole with its description as the database's
comment. Builds of one template take a server-wide lock, so two creates never build it twice, and a
create only ever copies a published template.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from ..drift.schema import fingerprint, read_schema
from ..errors import ProvisionError, TemplateBusyError
from ..orm_backends.assistants import Assistants
from ..preflight import Inspection, read_many
from ..record.keys import DbKey
from .servers import CreateOptions, Server

DEFAULT_PREFIX = "tr_tpl"
BUILD_LOCK_WAIT = 600.0  # seconds a create waits for another process building the same template
#: Bumped when what a template's comment records (the fingerprint's reading) changes: older templates are stale.
TEMPLATE_FORMAT = 1
BUSY_WAIT = 5.0  # seconds a copy waits for a session connected to the template to go, before migrating


def copied_from(template: str) -> str:
    """The comment of a tenant database created as a copy of `template` (counted by `templates`)."""
    return f"tenant-router: copied from {template}"


@dataclass(frozen=True)
class TemplateInfo:
    """What a published template's comment says of it."""

    digest: str
    fingerprint: str  # the schema fingerprint every copy must have
    built: str  # ISO 8601, UTC
    shape: list[list[str]]  # [[orm, alias], ...] of the tenant databases it holds
    tool: str = "tenant-router"

    def to_comment(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_comment(cls, comment: str | None) -> TemplateInfo | None:
        """None for a database that is not a published template of this tool."""
        try:
            data = json.loads(comment or "")
            return cls(**data) if data.get("tool") == "tenant-router" else None
        except (ValueError, TypeError, AttributeError):
            return None


class Templates:
    """The run's use of template databases: digests, builds, copies and their verification."""

    def __init__(self, assistants: Assistants, prefix: str = DEFAULT_PREFIX) -> None:
        self.assistants, self.prefix = assistants, prefix

    def digest(self, keys: list[DbKey], server: Server, options: CreateOptions) -> str | None:
        """The digest of one physical database's shape on `server`, made with `options` (a template
        has its encoding and collation); None when an ORM cannot template."""
        parts: list[Any] = [
            TEMPLATE_FORMAT,
            server.backend,
            server.label.replace("@127.0.0.1:", "@localhost:", 1),  # one digest however the host is spelled
            options.encoding,
            options.collation,
        ]
        for key in keys:
            own = self.assistants.schema_digest(key.orm)
            if own is None:
                return None
            parts.append((key.orm, key.alias, own))
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]

    def name(self, digest: str) -> str:
        return f"{self.prefix}_{digest}"

    def copy(
        self, server: Server, keys: list[DbKey], database: str, digest: str, options: CreateOptions
    ) -> str:
        """Create `database` as a verified copy of the template of `digest` (built first when there is
        none), owned as `options` say; the template's name. ProvisionError (nothing left behind) when it
        cannot."""
        template = self.name(digest)
        info = TemplateInfo.from_comment(server.comment(template))
        if info is None:
            with server.lock(template, BUILD_LOCK_WAIT):
                info = TemplateInfo.from_comment(server.comment(template))
                if info is None:
                    for left in server.databases(f"{template}_b"):  # its builder died: we hold the lock
                        server.drop(left.name)
                    info = self._build(server, keys, template, digest, options)
        self._create_from(server, database, template, options)
        try:
            self._verify(keys, info)
        except BaseException:
            server.drop(database)
            raise
        with contextlib.suppress(ProvisionError):  # servers without database comments: not counted
            server.set_comment(database, copied_from(server.locate(template)))
        return template

    def _create_from(self, server: Server, database: str, template: str, options: CreateOptions) -> None:
        deadline = time.monotonic() + BUSY_WAIT
        while True:
            try:
                server.create(database, options, template=template)
                return
            except TemplateBusyError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _build(
        self, server: Server, keys: list[DbKey], template: str, digest: str, options: CreateOptions
    ) -> TemplateInfo:
        building = f"{template}_b{uuid.uuid4().hex[:8]}"
        # The template takes the tenants' encoding and collation; it stays owned by the role that builds
        # it (and copies from it): only the tenant databases get another OWNER.
        server.create(building, CreateOptions(None, options.encoding, options.collation))
        try:
            for key in keys:
                assert key.alias is not None
                asst = self.assistants.get(key.orm)
                asst.build_template(self._config(key, server.locate(building)), key.alias)
            found = self._fingerprint(keys[0], server.locate(building))
            info = TemplateInfo(
                digest,
                found,
                datetime.now(UTC).isoformat(timespec="seconds"),
                [[k.orm, k.alias or ""] for k in keys],
            )
            self._at_head(keys, server.locate(building))
            server.publish(building, template, info.to_comment())
        except BaseException:
            server.drop(building)
            raise
        return info

    def _verify(self, keys: list[DbKey], info: TemplateInfo) -> None:
        """The copy's schema fingerprint is the template's, and its bookkeeping says head."""
        found = self._fingerprint(keys[0], None)
        if found != info.fingerprint:
            raise ProvisionError(
                f"the copy's schema fingerprint {found[:12]} is not the template's {info.fingerprint[:12]}"
            )
        self._at_head(keys, None)

    def _at_head(self, keys: list[DbKey], name: str | None) -> None:
        reads = []
        for key in keys:
            asst = self.assistants.get(key.orm)
            read = asst.bookkeeping_read(key.tenant or "", key.alias or "", self._config(key, name))
            if read is None:
                raise ProvisionError(f"{key.orm} cannot read its bookkeeping table")
            reads.append(read)
        for key, found in zip(keys, read_many(reads), strict=True):
            if not isinstance(found, Inspection) or not found.up_to_date:
                why = found if isinstance(found, BaseException) else f"pending {found.pending[:1]}"
                raise ProvisionError(f"{key.orm}/{key.alias} is not at head in the new database ({why})")

    def _fingerprint(self, key: DbKey, name: str | None) -> str:
        asst = self.assistants.get(key.orm)
        read = asst.bookkeeping_read(key.tenant or "", key.alias or "", self._config(key, name))
        assert read is not None
        with _closing(read.connect()) as conn:
            return fingerprint(read_schema(conn, read.identity.split(":", 1)[0]))

    def _config(self, key: DbKey, name: str | None) -> dict[str, Any]:
        """The tenant's own settings for `key`, naming database `name` (None: its own)."""
        own = self.assistants.db_config(key)
        return own if name is None else self.assistants.get(key.orm).scratch_config(own, name, {})


@contextlib.contextmanager
def _closing(conn: Any) -> Iterator[Any]:
    try:
        yield conn
    finally:
        with contextlib.suppress(Exception):
            conn.close()
