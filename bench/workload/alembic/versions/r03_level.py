"""create stock_level

Revision ID: r03_level
Revises: r02_item
"""

import sqlalchemy as sa
from alembic import op

revision = "r03_level"
down_revision = "r02_item"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock_level",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("stock_item.id", ondelete="CASCADE"), nullable=False),
        sa.Column("warehouse_id", sa.Integer, sa.ForeignKey("stock_warehouse.id"), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("stock_level")
