from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("legacy", "0004_vendor")]
    operations = [
        migrations.CreateModel(
            name="Draft",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("title", models.CharField(max_length=100)),
            ],
        ),
    ]
