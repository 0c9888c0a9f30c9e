"""A data migration written the way many third-party apps write them: no `.using(...)`.

tenant-router routes these queries to the tenant database being migrated.
"""

from django.db import migrations

WARDS = ["General", "Paediatrics", "Cardiology"]


def seed_wards(apps, schema_editor):
    Ward = apps.get_model("patients", "Ward")
    for name in WARDS:
        Ward.objects.get_or_create(name=name)


def unseed_wards(apps, schema_editor):
    Ward = apps.get_model("patients", "Ward")
    Ward.objects.filter(name__in=WARDS).delete()


class Migration(migrations.Migration):
    dependencies = [("patients", "0001_initial")]
    operations = [migrations.RunPython(seed_wards, unseed_wards)]
