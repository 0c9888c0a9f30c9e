"""AlembicScripts: where a project's Alembic environment lives, found and checked before any database."""

from __future__ import annotations

import configparser
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import RevisionStep
from alembic.script import ScriptDirectory

from ...errors import ConfigurationError
from ...safety.redact import REDACTOR

_PACKAGE_FORM = re.compile(r"^[A-Za-z_][\w.]*:[^/\\]")  # "myapp.db:migrations", not "C:\..."


def settings_base_dir() -> Path | None:
    """settings.BASE_DIR when Django is configured and defines it."""
    from django.conf import settings

    base = getattr(settings, "BASE_DIR", None) if settings.configured else None
    return Path(base) if base is not None else None


def _resolve(path: str | Path, base: Path | None) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() or base is None else base / p


def _escape(value: str) -> str:
    """Double `%` so ConfigParser interpolation leaves the value as written (URL-encoded passwords)."""
    return value.replace("%", "%%")


@dataclass
class AlembicScripts:
    """An Alembic ini file and/or script location, resolved to absolute paths, and its revisions."""

    where: str  # the settings path, for messages
    ini: Path | None
    script_location: str
    target: str
    script: ScriptDirectory = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.script = self._load_script()

    @classmethod
    def locate(
        cls,
        where: str,
        *,
        alembic_ini: str | Path | None,
        script_location: str | Path | None,
        target: str = "heads",
        base_dir: Path | None = None,
    ) -> AlembicScripts:
        """Find and load the environment; every problem is a ConfigurationError naming `where`."""
        if alembic_ini is None and script_location is None:
            raise ConfigurationError(
                f"{where} needs ALEMBIC_INI or SCRIPT_LOCATION.",
                hint="Point ALEMBIC_INI at alembic.ini (relative paths are relative to BASE_DIR).",
                check_id="E004",
            )
        ini = _resolve(alembic_ini, base_dir) if alembic_ini is not None else None
        if ini is not None and not ini.is_file():
            raise ConfigurationError(
                f"{where}['ALEMBIC_INI'] = {str(alembic_ini)!r}: no such file ({ini}).", check_id="E004"
            )
        return cls(where, ini, cls._location(where, ini, script_location, base_dir), target)

    @staticmethod
    def _location(where: str, ini: Path | None, option: str | Path | None, base_dir: Path | None) -> str:
        if option is not None:
            value, base = str(option), base_dir
        else:
            try:
                value = Config(str(ini)).get_alembic_option("script_location") or ""
            except configparser.Error as exc:
                raise ConfigurationError(
                    f"{where}['ALEMBIC_INI'] = {str(ini)!r} is not a valid ini file: "
                    f"{REDACTOR(str(exc).splitlines()[0])}.",
                    check_id="E004",
                ) from exc
            if not value:
                raise ConfigurationError(
                    f"{where}['ALEMBIC_INI'] = {str(ini)!r} sets no script_location in its [alembic] section.",
                    hint="Add script_location = %(here)s/alembic, or set SCRIPT_LOCATION.",
                    check_id="E004",
                )
            base = ini.parent if ini is not None else None  # `alembic` resolves it from the ini's folder too
        if _PACKAGE_FORM.match(value):
            return value
        return str(_resolve(value, base))

    def _load_script(self) -> ScriptDirectory:
        what = "SCRIPT_LOCATION" if self.ini is None else "ALEMBIC_INI"
        try:
            script = ScriptDirectory.from_config(self.config())
            env_py = Path(script.env_py_location)
            compile(env_py.read_text(encoding="utf-8"), str(env_py), "exec")
            script.get_revisions(self.target)  # loads (imports) every revision: catches broken ones now
        except (Exception, SystemExit) as exc:
            raise ConfigurationError(
                f"{self.where}: the Alembic environment at {self.script_location!r} ({what}) cannot be "
                f"used: {type(exc).__name__}: {REDACTOR(str(exc).strip().splitlines()[0] if str(exc).strip() else '')}",
                hint="`alembic heads` in the project shows the same problem.",
                check_id="E004",
            ) from exc
        return script

    def config(self, url: str | None = None, connection: Any = None) -> Config:
        """A fresh alembic Config: the ini (if any), our script location, `url`, `connection`."""
        config = Config(str(self.ini) if self.ini is not None else None)
        config.set_main_option("script_location", _escape(self.script_location))
        if url is not None:
            config.set_main_option("sqlalchemy.url", _escape(url))
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def heads(self) -> tuple[str, ...]:
        """The head revision ids of the script directory."""
        return tuple(self.script.get_heads())

    def describe(self) -> dict[str, str]:
        """Facts for `list-backends`."""
        facts = {"script location": self.script_location}
        if self.ini is not None:
            facts["alembic.ini"] = str(self.ini)
        facts["heads"] = ", ".join(self.heads()) or "(no revisions)"
        if self.target != "heads":
            facts["target"] = self.target
        return facts


BACKWARDS = " (backwards)"


def revision_id(step: RevisionStep) -> str:
    """The revision an upgrade step applies, or `<rev> (backwards)` for a downgrade step."""
    return str(step.revision.revision) + ("" if step.is_upgrade else BACKWARDS)


def steps_to(script: ScriptDirectory, target: str, heads: Sequence[str]) -> list[RevisionStep]:
    """What `alembic upgrade target` would run from `heads`, or `alembic downgrade target` below them."""
    if target not in ("head", "heads") and heads:
        ancestors = {rev.revision for head in heads for rev in script.iterate_revisions(head, "base")}
        wanted = {rev.revision for rev in script.get_revisions(target) if rev is not None}
        if target == "base" or (wanted <= ancestors and not wanted <= set(heads)):
            return list(script._downgrade_revs(target, heads))  # type: ignore[arg-type]
    # As command.upgrade does; its annotation says str, but it takes the heads tuple.
    return list(script._upgrade_revs(target, heads))  # type: ignore[arg-type]
