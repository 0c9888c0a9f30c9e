"""index stock_movement (item, at)

Revision ID: r08_movement_index
Revises: r07_movement
"""

from alembic import op

revision = "r08_movement_index"
down_revision = "r07_movement"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("stock_movement_item_at", "stock_movement", ["item_id", "at"])


def downgrade() -> None:
    op.drop_index("stock_movement_item_at", table_name="stock_movement")
