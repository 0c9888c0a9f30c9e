"""TENANT_ROUTER_ORM_SETTINGS: each entry validated into an OrmSpec, its classes imported and checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.module_loading import import_string

from ..errors import ConfigurationError
from ..orm_backends.base import BaseOrmManager, BaseOrmMigrationAsst
from .model import ORM_SETTINGS, OrmSpec

BUILTIN_MANAGERS = {
    "django_orm": "tenant_router.orm_backends.django_orm.manager.DjangoOrmManager",
    "sqlalchemy_orm": "tenant_router.orm_backends.sqlalchemy_orm.manager.SqlAlchemyOrmManager",
}
ORM_ENTRY_KEYS = frozenset({"MANAGER", "SETTINGS_KEY", "OPTIONS"})
#: A database entry's "CREATE" object: how `create` / `--create-missing` make the database.
CREATE_KEYS = frozenset({"OWNER", "ENCODING", "COLLATION"})


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


def check_create_options(where: str, value: Any, check_id: str) -> None:
    """A database entry's "CREATE" must be an object of non-empty strings under CREATE_KEYS."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{where}['CREATE'] must be an object like {{'ENCODING': 'UTF8'}}, got {type(value).__name__}.",
            check_id=check_id,
        )
    reject_unknown_keys(f"{where}['CREATE']", value, CREATE_KEYS, check_id)
    for key, option in value.items():
        if option is not None and (not isinstance(option, str) or not option.strip()):
            raise ConfigurationError(
                f"{where}['CREATE'][{key!r}] must be a non-empty string, got {option!r:.40}.",
                check_id=check_id,
            )


def load_orm_spec(key: str, entry: Any, settings: Any) -> OrmSpec:
    """Validate one TENANT_ROUTER_ORM_SETTINGS entry into an OrmSpec."""
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


def load_orm_specs(settings: Any) -> tuple[OrmSpec, ...]:
    """TENANT_ROUTER_ORM_SETTINGS, validated, without the tenant configuration."""
    orm_settings = _setting(settings, ORM_SETTINGS, {"django_orm": {}})
    if not isinstance(orm_settings, Mapping) or not orm_settings:
        raise ConfigurationError(f"{ORM_SETTINGS} must be a non-empty dict of ORM keys.", check_id="E002")
    return tuple(load_orm_spec(key, entry, settings) for key, entry in orm_settings.items())
