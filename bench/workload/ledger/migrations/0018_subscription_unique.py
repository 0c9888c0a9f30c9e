from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0017_subscription")]
    operations = [
        migrations.AddConstraint(
            model_name="subscription",
            constraint=models.UniqueConstraint(
                fields=("customer", "product", "start"), name="subscription_once_per_start"
            ),
        ),
    ]
