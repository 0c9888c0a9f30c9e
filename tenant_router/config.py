"""Read TENANT_ROUTER_* settings and the tenant configuration into a validated RouterConfig.

This module is their only reader. It runs at call time (never at import time) and validates
everything before any database is touched; every problem is one ConfigurationError naming the
setting, file, tenant or key at fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

from .errors import ConfigurationError, SelectionError
from .redact import REDACTOR, collect_secrets

if TYPE_CHECKING:
    from .orm_backends.base import BaseOrmManager, BaseOrmMigrationAsst

BUILTIN_MANAGERS = {
    "django_orm": "tenant_router.orm_backends.django_orm.manager.DjangoOrmManager",
    "sqlalchemy_orm": "tenant_router.orm_backends.sqlalchemy_orm.manager.SqlAlchemyOrmManager",
}
ORM_ENTRY_KEYS = frozenset({"MANAGER", "SETTINGS_KEY", "OPTIONS"})
ORM_SETTINGS = "TENANT_ROUTER_ORM_SETTINGS"
TENANT_CONFIG = "TENANT_ROUTER_TENANT_CONFIG"
SERVICE_NAME = "TENANT_ROUTER_SERVICE_NAME"
_DOTTED = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")
#: Deeper than this is not a configuration anyone meant (and would overflow recursive code later).
MAX_DEPTH = 32


@dataclass(frozen=True)
class TenantConfig:
    """The tenant configuration document, already checked for shape."""

    source: str  # shown in messages: a file path or a dotted callable path
    base_dir: Path | None  # relative SQLite paths are resolved against this (the file's folder)
    tenants: Mapping[str, Mapping[str, Any]]  # tenant id -> {service name: {...}}

    def orm_entry(self, tenant: str, service: str, orm: str) -> Mapping[str, Any] | None:
        """`tenant_config.<tenant>.<service>.orm_config.<orm>`, or None when absent."""
        service_entry = self.tenants.get(tenant, {}).get(service)
        if not isinstance(service_entry, Mapping):
            return None
        entry = service_entry.get("orm_config", {}).get(orm)
        return entry if isinstance(entry, Mapping) else None


@dataclass(frozen=True)
class OrmSpec:
    """One validated entry of TENANT_ROUTER_ORM_SETTINGS."""

    key: str
    manager_path: str
    manager_class: type[BaseOrmManager]
    settings_key: str
    options: Mapping[str, Any]
    asst_path: str
    asst_class: type[BaseOrmMigrationAsst]
    asst_options: Mapping[str, Any]
    reserved_aliases: tuple[str, ...]
    templates: Mapping[str, Any]  # the SETTINGS_KEY dict as read now

    @property
    def template_aliases(self) -> tuple[str, ...]:
        """Aliases replicated per tenant: every alias of SETTINGS_KEY that is not reserved."""
        return tuple(a for a in self.templates if a not in self.reserved_aliases)


@dataclass(frozen=True)
class RouterConfig:
    """Everything a run needs to know, validated; travels instead of `django.conf.settings`."""

    service_name: str
    specs: tuple[OrmSpec, ...]
    tenant_config: TenantConfig
    #: TENANT_ROUTER_DRIFT_SCRATCH: per engine (postgresql, mysql), connection overrides (USER, PASSWORD,
    #: HOST, PORT) for creating and migrating drift's scratch databases; empty: the tenant's own role.
    drift_scratch: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    _managers: dict[str, BaseOrmManager] = field(default_factory=dict, compare=False, repr=False)

    def orms(self, only: Iterable[str] = ()) -> list[OrmSpec]:
        """The ORM specs in settings order, or just `only` (unknown keys are a SelectionError)."""
        only = list(only)
        known = {s.key for s in self.specs}
        unknown = [k for k in only if k not in known]
        if unknown:
            raise SelectionError(
                f"Unknown ORM {unknown[0]!r}: {ORM_SETTINGS} defines {', '.join(sorted(known))}.",
                hint="Pick --orm from the keys `tenant-router list-backends` shows.",
            )
        return [s for s in self.specs if not only or s.key in only]

    def tenant_ids(self) -> list[str]:
        """Every tenant id, in the order of the tenant configuration."""
        return list(self.tenant_config.tenants)

    def manager(self, orm: str) -> BaseOrmManager:
        """The (cached) manager of one ORM."""
        if orm not in self._managers:
            spec = self.orms([orm])[0]
            self._managers[orm] = spec.manager_class(spec, self)
        return self._managers[orm]


def _setting(settings: Any, name: str, default: Any = None) -> Any:
    return getattr(settings, name, default)


def _import(path: Any, setting: str, base: type, what: str, check_id: str) -> Any:
    if not isinstance(path, str) or not path:
        raise ConfigurationError(
            f"{setting} must be a dotted path to a {what} class, got {path!r}.", check_id=check_id
        )
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ConfigurationError(
            f"{setting} = {path!r} cannot be imported: {exc}.",
            hint="Check the dotted path and that its module is on the Python path.",
            check_id=check_id,
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigurationError(
            f"{setting} = {path!r} is not a subclass of {base.__module__}.{base.__qualname__}.",
            check_id=check_id,
        )
    return cls


def reject_unknown_keys(
    where: str, entry: Mapping[str, Any], allowed: frozenset[str], check_id: str, hint: str | None = None
) -> None:
    """A ConfigurationError naming the first key of `entry` that is not `allowed`."""
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigurationError(
            f"{where} has unknown key {unknown[0]!r}.",
            hint=hint or f"Allowed keys: {', '.join(sorted(allowed))}.",
            check_id=check_id,
        )


def load_orm_spec(key: str, entry: Any, settings: Any) -> OrmSpec:
    """Validate one TENANT_ROUTER_ORM_SETTINGS entry into an OrmSpec."""
    from .orm_backends.base import BaseOrmManager, BaseOrmMigrationAsst

    where = f"{ORM_SETTINGS}[{key!r}]"
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where} must be a dict, got {type(entry).__name__}.", check_id="E002")
    reject_unknown_keys(where, entry, ORM_ENTRY_KEYS, "E002")
    manager_path = entry.get("MANAGER", BUILTIN_MANAGERS.get(key))
    if manager_path is None:
        raise ConfigurationError(
            f"{where}['MANAGER'] is missing.",
            hint="Name a subclass of tenant_router.orm_backends.base.BaseOrmManager.",
            check_id="E003",
        )
    manager_class = _import(manager_path, f"{where}['MANAGER']", BaseOrmManager, "manager", "E003")
    options = entry.get("OPTIONS", {})
    if not isinstance(options, Mapping):
        raise ConfigurationError(f"{where}['OPTIONS'] must be a dict.", check_id="E002")

    settings_key = entry.get("SETTINGS_KEY", manager_class.DEFAULT_SETTINGS_KEY)
    if not isinstance(settings_key, str) or not settings_key:
        raise ConfigurationError(f"{where}['SETTINGS_KEY'] is missing.", check_id="E005")
    templates = _setting(settings, settings_key)
    if isinstance(templates, Mapping):
        # Django's connection handler shares its dict with settings.DATABASES: our own per-tenant
        # registrations ("tenant_router:<tenant>:<alias>") show up there and are not templates.
        templates = {k: v for k, v in templates.items() if not str(k).startswith("tenant_router:")}
    if not isinstance(templates, Mapping) or not templates:
        raise ConfigurationError(
            f"{where}['SETTINGS_KEY'] names setting {settings_key!r}, which is "
            + ("not defined." if templates is None else "not a non-empty dict of aliases."),
            check_id="E005",
        )

    asst_entry = options.get("MIGRATION_ASST")
    if asst_entry is None and manager_class.DEFAULT_MIGRATION_ASST:
        asst_entry = {"CLASS": manager_class.DEFAULT_MIGRATION_ASST}
    if not isinstance(asst_entry, Mapping) or "CLASS" not in asst_entry:
        raise ConfigurationError(
            f"{where}['OPTIONS']['MIGRATION_ASST']['CLASS'] is missing.",
            hint="Name a subclass of tenant_router.orm_backends.base.BaseOrmMigrationAsst.",
            check_id="E004",
        )
    asst_class = _import(
        asst_entry["CLASS"],
        f"{where}['OPTIONS']['MIGRATION_ASST']['CLASS']",
        BaseOrmMigrationAsst,
        "migration assistant",
        "E004",
    )
    asst_options = asst_entry.get("OPTIONS", {})
    if not isinstance(asst_options, Mapping) or not all(isinstance(k, str) for k in asst_options):
        raise ConfigurationError(
            f"{where}['OPTIONS']['MIGRATION_ASST']['OPTIONS'] must be a dict of keyword arguments.",
            check_id="E004",
        )

    reserved = options.get("RESERVED_CONN_ALIASES", ())
    if isinstance(reserved, str) or not all(isinstance(a, str) for a in reserved):
        raise ConfigurationError(
            f"{where}['OPTIONS']['RESERVED_CONN_ALIASES'] must be a list of alias names.",
            check_id="E006",
        )
    for alias in reserved:
        if alias not in templates:
            raise ConfigurationError(
                f"{where}['OPTIONS']['RESERVED_CONN_ALIASES'] names {alias!r}, "
                f"which is not an alias of {settings_key}.",
                check_id="E006",
            )
    spec = OrmSpec(
        key=key,
        manager_path=manager_path,
        manager_class=manager_class,
        settings_key=settings_key,
        options=options,
        asst_path=asst_entry["CLASS"],
        asst_class=asst_class,
        asst_options=dict(asst_options),
        reserved_aliases=tuple(reserved),
        templates=templates,
    )
    if not spec.template_aliases:
        raise ConfigurationError(
            f"{where}: every alias of {settings_key} is reserved; no template alias is left for tenants.",
            check_id="E006",
        )
    manager_class.validate_spec(spec, settings)
    return spec


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
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"Tenant configuration file {str(path)!r} cannot be read: {exc.strerror or exc}.",
            hint=f"Set {TENANT_CONFIG} to the file's path (default: tenant_config.json in BASE_DIR).",
            check_id="E007",
        ) from exc
    try:
        return json.loads(text), str(path), path.parent
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
                f"Tenant configuration {where!r}: tenant {tenant!r} is nested more than {MAX_DEPTH} "
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
                f"Tenant configuration {where!r}: tenant {tenant!r} must map service names to objects, "
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
                    f"Tenant configuration {where!r}: tenant {tenant!r}, service {service!r} needs an "
                    '"orm_config" object mapping ORM keys to {alias: settings} objects.',
                    check_id="E008",
                )
    return TenantConfig(where, base_dir, tenants)


def ensure_django() -> None:
    """Start Django for a plain script that did not: DJANGO_SETTINGS_MODULE set, apps not loaded yet."""
    import os

    from django.apps import apps
    from django.conf import settings as django_settings

    if apps.ready or apps.loading:  # set up already, or being set up right now (an AppConfig.ready())
        return
    module = os.environ.get("DJANGO_SETTINGS_MODULE")
    if not django_settings.configured and not module:
        raise ConfigurationError(
            "Django is not set up: DJANGO_SETTINGS_MODULE is not set and settings.configure() was not called.",
            hint="Set DJANGO_SETTINGS_MODULE=yourproject.settings before calling tenant-router, or call "
            "django.setup() first (manage.py and the tenant-router command do it for you).",
        )
    import django

    try:
        django.setup()
    except Exception as exc:
        raise ConfigurationError(
            f"Django cannot start with settings {module!r}: {type(exc).__name__}: {REDACTOR(str(exc))}",
            hint="Check DJANGO_SETTINGS_MODULE and that the project's folder is on the Python path.",
        ) from exc


def load_orm_specs(settings: Any) -> tuple[OrmSpec, ...]:
    """TENANT_ROUTER_ORM_SETTINGS, validated, without the tenant configuration."""
    orm_settings = _setting(settings, ORM_SETTINGS, {"django_orm": {}})
    if not isinstance(orm_settings, Mapping) or not orm_settings:
        raise ConfigurationError(f"{ORM_SETTINGS} must be a non-empty dict of ORM keys.", check_id="E002")
    return tuple(load_orm_spec(key, entry, settings) for key, entry in orm_settings.items())


def load_config(settings: Any = None) -> RouterConfig:
    """Read and validate every TENANT_ROUTER_* setting and the tenant configuration.

    Without `settings`, Django's are used, and Django is set up first when a plain script did not.
    """
    if settings is None:
        ensure_django()
        from django.conf import settings as django_settings

        settings = django_settings
    service = _setting(settings, SERVICE_NAME)
    if not isinstance(service, str) or not service.strip():
        raise ConfigurationError(
            f"{SERVICE_NAME} is " + ("not set." if service is None else f"{service!r}, not a name."),
            hint="Set it to the service key used inside each tenant's entry, e.g. 'clinic'.",
            check_id="E001",
        )
    specs = load_orm_specs(settings)
    orm_settings = {s.key: s for s in specs}
    tenant_config = load_tenant_config(settings)
    drift_scratch = load_drift_scratch(settings)
    config = RouterConfig(service, specs, tenant_config, drift_scratch)
    REDACTOR.add(collect_secrets(drift_scratch))
    REDACTOR.add(collect_secrets([dict(s.templates) for s in specs]))
    REDACTOR.add(collect_secrets(tenant_config.tenants))
    for tenant in tenant_config.tenants:
        for orm, entry in tenant_config.tenants[tenant].get(service, {}).get("orm_config", {}).items():
            if orm not in orm_settings:
                raise ConfigurationError(
                    f"Tenant configuration {tenant_config.source!r}: tenant {tenant!r} configures ORM "
                    f"{orm!r}, which {ORM_SETTINGS} does not define.",
                    check_id="E008",
                )
            spec = next(s for s in specs if s.key == orm)
            for alias, db in entry.items():
                if not isinstance(db, Mapping):
                    raise ConfigurationError(
                        f"Tenant configuration {tenant_config.source!r}: tenant {tenant!r}, {orm}.{alias} "
                        f"must be an object of database settings, got {type(db).__name__}.",
                        check_id="E008",
                    )
                if alias not in spec.template_aliases:
                    raise ConfigurationError(
                        f"Tenant configuration {tenant_config.source!r}: tenant {tenant!r}, ORM {orm!r} "
                        f"configures alias {alias!r}, which is not a template alias of "
                        f"{spec.settings_key} ({', '.join(spec.template_aliases)}).",
                        check_id="E008",
                    )
                spec.manager_class.validate_entry(spec, tenant, alias, db)
    return config


def celery_app_path() -> str | None:
    """TENANT_ROUTER_CELERY_APP ("module:attribute" of the project's Celery app): environment, then settings."""
    import os

    from django.conf import settings as django_settings

    value = os.environ.get("TENANT_ROUTER_CELERY_APP") or getattr(
        django_settings, "TENANT_ROUTER_CELERY_APP", None
    )
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(
            f"TENANT_ROUTER_CELERY_APP must be a string 'module:attribute', got {type(value).__name__}."
        )
    return value or None


DRIFT_SCRATCH = "TENANT_ROUTER_DRIFT_SCRATCH"
SCRATCH_KEYS = frozenset({"USER", "PASSWORD", "HOST", "PORT"})


def load_drift_scratch(settings: Any) -> dict[str, dict[str, Any]]:
    """TENANT_ROUTER_DRIFT_SCRATCH, validated: {"postgresql": {"USER": ..., "PASSWORD": ...}, ...}."""
    value = _setting(settings, DRIFT_SCRATCH, {}) or {}
    example = f"{DRIFT_SCRATCH} = {{'postgresql': {{'USER': 'tr_admin', 'PASSWORD': '...'}}}}"
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{DRIFT_SCRATCH} must be a dict per engine, like {example}.")
    found: dict[str, dict[str, Any]] = {}
    for engine, entry in value.items():
        if engine not in ("postgresql", "mysql") or not isinstance(entry, Mapping):
            raise ConfigurationError(
                f"{DRIFT_SCRATCH}[{engine!r}]: keys are 'postgresql' or 'mysql', values dicts, like {example}."
            )
        unknown = sorted(set(entry) - SCRATCH_KEYS)
        if unknown:
            raise ConfigurationError(
                f"{DRIFT_SCRATCH}[{engine!r}] has unknown key {unknown[0]!r}; it takes USER, PASSWORD, HOST, PORT."
            )
        found[engine] = dict(entry)
    return found
