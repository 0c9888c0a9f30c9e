"""The tenant bound to the current thread or asyncio task, read by the ORM routers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TenantBinding:
    """A bound tenant: the ORMs' template aliases mean its databases."""

    tenant: str


_binding: ContextVar[TenantBinding | None] = ContextVar("tenant_router_binding", default=None)


@contextmanager
def tenant_context_bind(tenant: str) -> Iterator[TenantBinding]:
    """Bind `tenant` for the block: the template alias names (`"default"`, ...) mean its databases."""
    token = _binding.set(TenantBinding(tenant))
    try:
        binding = _binding.get()
        assert binding is not None
        yield binding
    finally:
        _binding.reset(token)  # restores the outer binding; isolated per thread and asyncio task


def current_binding() -> TenantBinding | None:
    """The binding in force here, or None outside any `tenant_context_bind` block."""
    return _binding.get()


def current_tenant() -> str | None:
    """The tenant id bound here, or None."""
    binding = _binding.get()
    return binding.tenant if binding else None
