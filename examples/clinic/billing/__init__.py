"""Billing: the clinic's SQLAlchemy side, one database per tenant, migrated with Alembic."""
