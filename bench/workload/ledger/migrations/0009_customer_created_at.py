from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0008_product_tags")]
    operations = [
        migrations.AddField(model_name="customer", name="created_at", field=models.DateTimeField(null=True)),
    ]
