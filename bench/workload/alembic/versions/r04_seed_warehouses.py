"""seed warehouses (data migration)

Revision ID: r04_seed_warehouses
Revises: r03_level
"""

import sqlalchemy as sa
from alembic import op

revision = "r04_seed_warehouses"
down_revision = "r03_level"
branch_labels = None
depends_on = None

WAREHOUSES = [("AMS", "Amsterdam"), ("RTM", "Rotterdam"), ("UTR", "Utrecht")]


def upgrade() -> None:
    warehouse = sa.table("stock_warehouse", sa.column("code", sa.String), sa.column("name", sa.String))
    op.bulk_insert(warehouse, [{"code": code, "name": name} for code, name in WAREHOUSES])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM stock_warehouse WHERE code IN ('AMS', 'RTM', 'UTR')"))
