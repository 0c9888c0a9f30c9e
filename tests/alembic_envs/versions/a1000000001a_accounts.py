"""accounts

Revision ID: a1000000001a
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "a1000000001a"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(200), nullable=True),
        sa.UniqueConstraint("name", name="account_name_key"),
    )


def downgrade() -> None:
    op.drop_table("account")
