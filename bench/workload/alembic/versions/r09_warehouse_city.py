"""stock_warehouse.city

Revision ID: r09_warehouse_city
Revises: r08_movement_index
"""

import sqlalchemy as sa
from alembic import op

revision = "r09_warehouse_city"
down_revision = "r08_movement_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stock_warehouse", sa.Column("city", sa.String(100)))


def downgrade() -> None:
    op.drop_column("stock_warehouse", "city")
