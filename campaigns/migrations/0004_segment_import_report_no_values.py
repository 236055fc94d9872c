"""Uploaded lists' reports keep line numbers and reasons only, not the rejected values
(phone numbers, emails, names a marketer uploaded): strip the values stored before."""

from typing import Any

from django.db import migrations


def strip_values(apps: Any, schema_editor: Any) -> None:
    Segment = apps.get_model("campaigns", "Segment")
    for segment in Segment.objects.exclude(import_report={}).only("pk", "import_report"):
        report = segment.import_report or {}
        lines = report.get("rejected_lines")
        if not isinstance(lines, list) or not any(
            isinstance(line, dict) and "value" in line for line in lines
        ):
            continue
        report["rejected_lines"] = [
            {k: v for k, v in line.items() if k != "value"} if isinstance(line, dict) else {}
            for line in lines
        ]
        Segment.objects.filter(pk=segment.pk).update(import_report=report)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0003_delivery_indexes")]

    operations = [migrations.RunPython(strip_values, migrations.RunPython.noop)]
