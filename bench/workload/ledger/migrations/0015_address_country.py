from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0014_address")]
    operations = [
        migrations.AddField(
            model_name="address", name="country", field=models.CharField(default="NL", max_length=2)
        ),
    ]
