from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ledger", "0021_note_customer")]
    operations = [
        migrations.RenameField(model_name="product", old_name="title", new_name="name"),
    ]
