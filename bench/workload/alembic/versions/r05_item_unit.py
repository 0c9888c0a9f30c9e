"""stock_item.unit

Revision ID: r05_item_unit
Revises: r04_seed_warehouses
"""

import sqlalchemy as sa
from alembic import op

revision = "r05_item_unit"
down_revision = "r04_seed_warehouses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stock_item", sa.Column("unit", sa.String(8), nullable=False, server_default="pcs"))


def downgrade() -> None:
    op.drop_column("stock_item", "unit")
