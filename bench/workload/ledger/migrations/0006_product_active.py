from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_invoice_index")]
    operations = [
        migrations.AddField(model_name="product", name="active", field=models.BooleanField(default=True)),
    ]
