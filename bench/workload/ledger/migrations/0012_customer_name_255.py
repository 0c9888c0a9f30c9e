from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0011_payment")]
    operations = [
        migrations.AlterField(model_name="customer", name="name", field=models.CharField(max_length=255)),
    ]
