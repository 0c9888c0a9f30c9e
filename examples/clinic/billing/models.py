"""SQLAlchemy models of billing; `alembic/versions` holds their migrations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Tariff(Base):
    __tablename__ = "tariff"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    cents: Mapped[int]


class Invoice(Base):
    __tablename__ = "invoice"
    __table_args__ = (Index("invoice_patient_issued", "patient_ref", "issued_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_ref: Mapped[int]  # patients.Patient id, in the Django database of the same tenant
    issued_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    lines: Mapped[list[InvoiceLine]] = relationship(back_populates="invoice")


class InvoiceLine(Base):
    __tablename__ = "invoice_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    tariff_id: Mapped[int] = mapped_column(ForeignKey("tariff.id"))
    quantity: Mapped[int] = mapped_column(default=1)
    invoice: Mapped[Invoice] = relationship(back_populates="lines")
