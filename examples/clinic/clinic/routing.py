"""Which apps live in the central database and which in every tenant database."""

CENTRAL_APPS = {"directory"}


def migrate_strategy(router, db, app_label, model_name=None, **hints):
    """`db` is a template alias ("default") or a reserved one ("central")."""
    if db == "central":
        return app_label in CENTRAL_APPS
    return app_label not in CENTRAL_APPS
