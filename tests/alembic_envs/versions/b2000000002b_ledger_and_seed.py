"""ledger, and a data migration seeding accounts

Revision ID: b2000000002b
Revises: a1000000001a
"""

import sqlalchemy as sa
from alembic import op

revision = "b2000000002b"
down_revision = "a1000000001a"
branch_labels = None
depends_on = None

account = sa.table("account", sa.column("name", sa.String), sa.column("email", sa.String))


def upgrade() -> None:
    op.bulk_insert(account, [{"name": "cash", "email": None}, {"name": "bank", "email": "b@example.org"}])
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
    )
    op.create_index("ledger_account", "ledger", ["account_id"])


def downgrade() -> None:
    op.drop_table("ledger")
    op.execute(account.delete())
