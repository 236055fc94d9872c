"""The member's postcode gets a database default (an empty string), so rows written by SQL that
predates the column (the previous release during a deploy, bulk seeding) stay valid."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0005_member_external_id_postcode"),
    ]

    operations = [
        migrations.AlterField(
            model_name="member",
            name="postcode",
            field=models.CharField(
                blank=True, db_default="", default="", max_length=10, verbose_name="postcode"
            ),
        ),
    ]
