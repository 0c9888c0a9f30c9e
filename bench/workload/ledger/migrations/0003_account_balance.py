from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_customer_phone")]
    operations = [
        migrations.AddField(
            model_name="account",
            name="balance",
            field=models.DecimalField(decimal_places=2, default=0, max_digits=14),
        ),
    ]
