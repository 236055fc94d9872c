"""Members get the id they had in the system they were imported from (unique when set) and a
postcode (members.imports, docs/import.md)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0004_store_door_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="member",
            name="external_id",
            field=models.CharField(
                blank=True, max_length=64, null=True, unique=True, verbose_name="external id"
            ),
        ),
        migrations.AddField(
            model_name="member",
            name="postcode",
            field=models.CharField(blank=True, max_length=10, verbose_name="postcode"),
        ),
    ]
