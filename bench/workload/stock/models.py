"""SQLAlchemy tables of the stock module; `alembic/versions` holds their 10 revisions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the stock tables."""


class Warehouse(Base):
    __tablename__ = "stock_warehouse"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))


class Item(Base):
    __tablename__ = "stock_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    unit: Mapped[str] = mapped_column(String(8), server_default="pcs")
    weight_kg: Mapped[float | None] = mapped_column(Numeric(10, 3))


class Level(Base):
    __tablename__ = "stock_level"
    __table_args__ = (Index("stock_level_item_wh", "item_id", "warehouse_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("stock_item.id", ondelete="CASCADE"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("stock_warehouse.id"))
    quantity: Mapped[int] = mapped_column(server_default="0")
    reorder_at: Mapped[int | None]


class Movement(Base):
    __tablename__ = "stock_movement"
    __table_args__ = (Index("stock_movement_item_at", "item_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("stock_item.id", ondelete="CASCADE"))
    delta: Mapped[int]
    at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(200))
