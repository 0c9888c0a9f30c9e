from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0015_address_country")]
    operations = [
        migrations.AddIndex(
            model_name="customer", index=models.Index(fields=["email"], name="customer_email")
        ),
    ]
