from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0025_payment_method")]
    operations = [
        migrations.AddField(model_name="customer", name="vip", field=models.BooleanField(default=False)),
    ]
