"""seed tariffs (data migration)

Revision ID: 7c4d2e8a5f22
Revises: 3f2a1c9e0b11
Create Date: 2024-05-09 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "7c4d2e8a5f22"
down_revision = "3f2a1c9e0b11"
branch_labels = None
depends_on = None

tariff = sa.table(
    "tariff",
    sa.column("code", sa.String),
    sa.column("name", sa.String),
    sa.column("cents", sa.Integer),
)
TARIFFS = [
    {"code": "CONSULT", "name": "Consultation", "cents": 4500},
    {"code": "XRAY", "name": "X-ray", "cents": 9000},
    {"code": "LAB", "name": "Laboratory test", "cents": 2500},
]


def upgrade() -> None:
    op.bulk_insert(tariff, TARIFFS)


def downgrade() -> None:
    op.execute(tariff.delete().where(tariff.c.code.in_([t["code"] for t in TARIFFS])))
