from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0007_tag")]
    operations = [
        migrations.AddField(
            model_name="product",
            name="tags",
            field=models.ManyToManyField(blank=True, related_name="products", to="ledger.tag"),
        ),
    ]
