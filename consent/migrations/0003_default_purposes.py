"""The default purposes, the first policy version and a starting list of interests
(``consent.defaults``)."""

from django.db import migrations

from consent.defaults import defaults_ensure


def create(apps, schema_editor):
    defaults_ensure(apps)


class Migration(migrations.Migration):
    dependencies = [("consent", "0002_consent_event_append_only")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
