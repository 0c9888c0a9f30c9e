"""create stock_movement

Revision ID: r07_movement
Revises: r06_level_unique
"""

import sqlalchemy as sa
from alembic import op

revision = "r07_movement"
down_revision = "r06_level_unique"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock_movement",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("stock_item.id", ondelete="CASCADE"), nullable=False),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("reason", sa.String(200)),
    )


def downgrade() -> None:
    op.drop_table("stock_movement")
