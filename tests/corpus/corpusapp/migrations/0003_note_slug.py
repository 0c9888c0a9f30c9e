"""The one migration a `one_behind` tenant has pending: a column, and rows through django.db.connection."""

from django.db import connection, migrations, models


def fill_slugs(apps, schema_editor):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE corpusapp_note SET slug = lower(replace(title, ' ', '-'))")
        cursor.execute(
            "INSERT INTO corpusapp_note (title, vendor, body, slug) VALUES (%s, %s, %s, %s)",
            ["added by 0003", connection.vendor, "", "added-by-0003"],
        )


def unfill_slugs(apps, schema_editor):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM corpusapp_note WHERE title = %s", ["added by 0003"])


class Migration(migrations.Migration):
    dependencies = [("corpusapp", "0002_seed")]

    operations = [
        migrations.AddField(
            model_name="note",
            name="slug",
            field=models.CharField(db_index=True, default="", max_length=100),
        ),
        migrations.RunPython(fill_slugs, unfill_slugs),
    ]
