from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0023_audit_event")]
    operations = [
        migrations.AddIndex(
            model_name="auditevent", index=models.Index(fields=["kind", "at"], name="auditevent_kind_at")
        ),
    ]
