from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0018_subscription_unique")]
    operations = [
        migrations.AddField(model_name="invoice", name="due", field=models.DateField(null=True)),
    ]
