"""tariffs and invoices

Revision ID: 3f2a1c9e0b11
Revises:
Create Date: 2024-05-02 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "3f2a1c9e0b11"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tariff",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(20), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("cents", sa.Integer(), nullable=False),
    )
    op.create_table(
        "invoice",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("patient_ref", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("invoice")
    op.drop_table("tariff")
