"""Data migration: the default tags every tenant starts with. Uses the connection being migrated."""

from django.db import migrations

TAGS = ["new", "popular", "clearance", "seasonal", "bundle"]


def seed_tags(apps, schema_editor):
    Tag = apps.get_model("ledger", "Tag")
    db = schema_editor.connection.alias
    Tag.objects.using(db).bulk_create([Tag(name=name) for name in TAGS], ignore_conflicts=True)


def unseed_tags(apps, schema_editor):
    Tag = apps.get_model("ledger", "Tag")
    Tag.objects.using(schema_editor.connection.alias).filter(name__in=TAGS).delete()


class Migration(migrations.Migration):
    dependencies = [("ledger", "0009_customer_created_at")]
    operations = [migrations.RunPython(seed_tags, unseed_tags)]
