"""invoice lines and the invoice lookup index

Revision ID: 9e6b3f1d7a33
Revises: 7c4d2e8a5f22
Create Date: 2024-05-16 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "9e6b3f1d7a33"
down_revision = "7c4d2e8a5f22"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoice_line",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "invoice_id", sa.Integer(), sa.ForeignKey("invoice.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("tariff_id", sa.Integer(), sa.ForeignKey("tariff.id"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
    )
    op.create_index("invoice_patient_issued", "invoice", ["patient_ref", "issued_at"])


def downgrade() -> None:
    op.drop_index("invoice_patient_issued", table_name="invoice")
    op.drop_table("invoice_line")
