from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0024_audit_event_index")]
    operations = [
        migrations.AddField(
            model_name="payment", name="method", field=models.CharField(default="card", max_length=16)
        ),
    ]
