from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0022_product_rename_title")]
    operations = [
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("kind", models.CharField(max_length=40)),
                ("payload", models.JSONField(default=dict)),
                ("at", models.DateTimeField()),
            ],
        ),
    ]
