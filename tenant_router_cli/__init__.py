"""The `tenant-router` command: a thin presentation layer over the tenant_router library."""
