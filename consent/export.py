"""Build a member's export ZIP from every registered export section (JSON and CSV)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.utils import timezone, translation
from django.utils.translation import gettext as _

from consent import privacy_parts
from members.models import Member

README_TEXT = """{title}

{intro}

manifest.json: {manifest}
"""


def _csv_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if value is None:
        return ""
    return value


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    return out.getvalue()


def export_build(*, member: Member, path: Path, progress: Callable[[int], None]) -> Path:
    """Write ``path``: one ``<section>.json`` and ``<section>.csv`` per section, a manifest
    naming each section's model and fields, and a README in the member's language."""
    sections = privacy_parts.export_sections()
    manifest: dict[str, Any] = {
        "member_id": member.pk,
        "created_at": timezone.now().isoformat(),
        "sections": [],
    }
    tmp = path.with_suffix(".part")
    with (
        translation.override(member.preferred_language),
        zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        for i, section in enumerate(sections, start=1):
            rows = [dict(r) for r in section.rows(member)]
            archive.writestr(
                f"{section.name}.json",
                json.dumps(rows, ensure_ascii=False, indent=2, sort_keys=True),
            )
            archive.writestr(f"{section.name}.csv", rows_to_csv(rows))
            fields = {k for r in rows for k in r}
            if section.model is not None:
                # The model's fields are listed even without rows, so the manifest says what
                # the section would hold.
                fields |= {f.name for f in section.model._meta.concrete_fields}
                fields |= {f.name for f in section.model._meta.many_to_many}
            manifest["sections"].append(
                {
                    "name": section.name,
                    "title": str(section.title),
                    "model": section.model._meta.label if section.model else None,
                    "fields": sorted(fields),
                    "rows": len(rows),
                }
            )
            progress(int(i * 100 / (len(sections) + 1)))
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        archive.writestr(
            "README.txt",
            README_TEXT.format(
                title=_("Your data from Kundklubben"),
                intro=_(
                    "Each kind of data is in two files with the same content: .json for "
                    "computers and .csv for spreadsheets. Times are in UTC."
                ),
                manifest=_("the list of files, with what each contains"),
            ),
        )
    tmp.replace(path)
    return path
