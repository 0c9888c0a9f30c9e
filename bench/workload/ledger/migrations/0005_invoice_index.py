from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_invoice")]
    operations = [
        migrations.AddIndex(
            model_name="invoice",
            index=models.Index(fields=["account", "issued"], name="invoice_account_issued"),
        ),
    ]
