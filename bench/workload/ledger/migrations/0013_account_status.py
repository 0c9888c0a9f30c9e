from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0012_customer_name_255")]
    operations = [
        migrations.AddField(
            model_name="account",
            name="status",
            field=models.CharField(
                choices=[("open", "Open"), ("frozen", "Frozen"), ("closed", "Closed")],
                default="open",
                max_length=10,
            ),
        ),
    ]
