"""invoice.paid_at

Revision ID: c81f5a0e4b44
Revises: 9e6b3f1d7a33
Create Date: 2024-05-23 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c81f5a0e4b44"
down_revision = "9e6b3f1d7a33"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoice") as batch:
        batch.add_column(sa.Column("paid_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invoice") as batch:
        batch.drop_column("paid_at")
