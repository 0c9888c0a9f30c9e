"""`describe_backends()`: what each configured ORM resolves to, tolerant of classes that fail to import."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ConfigurationError
from .model import ORM_SETTINGS, RouterConfig
from .orm_settings import BUILTIN_MANAGERS, load_orm_spec
from .tenant_document import load_tenant_config


@dataclass
class BackendInfo:
    """One ORM key as the settings resolve it; `error` says what is wrong with it, if anything."""

    orm: str
    manager: str | None
    manager_imports: bool
    assistant: str | None
    assistant_imports: bool
    template_aliases: list[str] = field(default_factory=list)
    reserved_aliases: list[str] = field(default_factory=list)
    tenants: int | None = None
    details: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _try_import(path: Any) -> bool:
    from django.utils.module_loading import import_string

    try:
        import_string(path)
    except Exception:
        return False
    return True


def describe_backends(settings: Any = None) -> list[BackendInfo]:
    """Describe every ORM of TENANT_ROUTER_ORM_SETTINGS; a broken one is described, not raised."""
    if settings is None:
        from django.conf import settings as django_settings

        settings = django_settings
    raw = getattr(settings, ORM_SETTINGS, {"django_orm": {}})
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{ORM_SETTINGS} must be a dict of ORM keys.", check_id="E002")
    service = getattr(settings, "TENANT_ROUTER_SERVICE_NAME", None)
    tenant_error: str | None = None
    try:
        tenants = load_tenant_config(settings)
    except ConfigurationError as exc:
        tenants, tenant_error = None, exc.message
    infos = []
    for key, entry in raw.items():
        entry = entry if isinstance(entry, Mapping) else {}
        manager_path = entry.get("MANAGER", BUILTIN_MANAGERS.get(key))
        asst = (entry.get("OPTIONS") or {}).get("MIGRATION_ASST") or {}
        asst_path = asst.get("CLASS") if isinstance(asst, Mapping) else None
        info = BackendInfo(
            key,
            manager_path,
            _try_import(manager_path),
            asst_path,
            asst_path is None or _try_import(asst_path),
        )
        try:
            spec = load_orm_spec(key, raw[key], settings)
        except ConfigurationError as exc:
            info.error = exc.message
            infos.append(info)
            continue
        info.assistant, info.assistant_imports = spec.asst_path, True
        info.template_aliases = list(spec.template_aliases)
        info.reserved_aliases = list(spec.reserved_aliases)
        if tenants is not None and isinstance(service, str):
            config = RouterConfig(service, (spec,), tenants)
            manager = config.manager(key)
            info.tenants = manager.tenant_count()
            try:
                info.details = manager.describe()
            except Exception as exc:  # a broken environment is shown, not raised
                info.error = f"{type(exc).__name__}: {exc}"
        info.error = info.error or tenant_error
        infos.append(info)
    return infos
