from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [
        migrations.AddField(
            model_name="customer", name="phone", field=models.CharField(blank=True, default="", max_length=32)
        ),
    ]
