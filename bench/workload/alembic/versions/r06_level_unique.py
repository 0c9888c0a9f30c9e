"""unique (item, warehouse) on stock_level

Revision ID: r06_level_unique
Revises: r05_item_unit
"""

from alembic import op

revision = "r06_level_unique"
down_revision = "r05_item_unit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("stock_level_item_wh", "stock_level", ["item_id", "warehouse_id"], unique=True)


def downgrade() -> None:
    op.drop_index("stock_level_item_wh", table_name="stock_level")
