from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0029_account_closed_on")]
    operations = [
        migrations.AddField(
            model_name="address", name="notes", field=models.TextField(blank=True, default="")
        ),
    ]
