"""Stores get a door key (members.door): each existing store a random one of its own."""

import secrets

from django.db import migrations, models

import members.models


def fill(apps, schema_editor):
    Store = apps.get_model("members", "Store")
    # AddField gave every existing store the same key: give each its own.
    for store in Store.objects.only("pk"):
        Store.objects.filter(pk=store.pk).update(door_key=secrets.token_urlsafe(12))


class Migration(migrations.Migration):
    dependencies = [("members", "0003_member_field_validators")]

    operations = [
        migrations.AddField(
            model_name="store",
            name="door_key",
            field=models.CharField(
                default=members.models.door_key_new,
                editable=False,
                max_length=32,
                verbose_name="door code key",
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
