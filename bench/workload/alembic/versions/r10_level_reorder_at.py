"""stock_level.reorder_at

Revision ID: r10_level_reorder_at
Revises: r09_warehouse_city
"""

import sqlalchemy as sa
from alembic import op

revision = "r10_level_reorder_at"
down_revision = "r09_warehouse_city"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stock_level", sa.Column("reorder_at", sa.Integer))


def downgrade() -> None:
    op.drop_column("stock_level", "reorder_at")
