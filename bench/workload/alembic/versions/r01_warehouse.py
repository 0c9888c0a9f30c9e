"""create stock_warehouse

Revision ID: r01_warehouse
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "r01_warehouse"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock_warehouse",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stock_warehouse")
