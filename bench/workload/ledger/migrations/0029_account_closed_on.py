from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0028_invoice_currency")]
    operations = [
        migrations.AddField(model_name="account", name="closed_on", field=models.DateField(null=True)),
    ]
