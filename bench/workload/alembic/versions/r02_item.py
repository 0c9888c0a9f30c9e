"""create stock_item

Revision ID: r02_item
Revises: r01_warehouse
"""

import sqlalchemy as sa
from alembic import op

revision = "r02_item"
down_revision = "r01_warehouse"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock_item",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sku", sa.String(40), nullable=False, unique=True),
        sa.Column("weight_kg", sa.Numeric(10, 3)),
    )


def downgrade() -> None:
    op.drop_table("stock_item")
