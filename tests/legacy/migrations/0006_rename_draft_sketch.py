from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("legacy", "0005_draft")]
    operations = [
        migrations.RenameModel(old_name="Draft", new_name="Sketch"),
        migrations.AlterField(model_name="sketch", name="title", field=models.CharField(max_length=200)),
    ]
