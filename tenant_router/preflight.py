"""Pre-flight: what each database has pending, read from its bookkeeping table before any migration."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Inspection:
    """What one database still needs, as read from `django_migrations` / `alembic_version`."""

    pending: tuple[str, ...]  # steps not applied yet, in order (empty: up to date)
    current: str | None  # the latest step applied, for display

    @property
    def up_to_date(self) -> bool:
        """Nothing pending."""
        return not self.pending
