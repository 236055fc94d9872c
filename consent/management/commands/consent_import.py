"""Import consents collected elsewhere (paper forms, an old system) with source "import".

CSV with a header: ``membership_number,purpose,granted[,policy_version]``; ``granted`` is
yes/no (or true/false, 1/0). Each row is one call to ``consent_set``; a bad row is reported
with its line number and changes nothing; the others are imported.
"""

from __future__ import annotations

import csv
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from consent.models import ConsentEvent, PolicyVersion
from consent.services.consent import consent_set
from members.errors import DomainError
from members.models import Member

TRUE = {"yes", "ja", "true", "1"}
FALSE = {"no", "nej", "false", "0"}


class Command(BaseCommand):
    help = "Import consents from a CSV file (membership_number,purpose,granted[,policy_version])."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path")

    def handle(self, *args: Any, path: str, **options: Any) -> None:
        try:
            handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        imported = unchanged = failed = 0
        with handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    changed = self._row(row)
                except (DomainError, ValidationError, ValueError) as exc:
                    failed += 1
                    self.stderr.write(f"line {line}: {exc}")
                    continue
                if changed:
                    imported += 1
                else:
                    unchanged += 1
        self.stdout.write(f"imported {imported}, unchanged {unchanged}, failed {failed}")

    def _row(self, row: dict[str, str]) -> bool:
        number = (row.get("membership_number") or "").replace(" ", "")
        member = Member.objects.filter(membership_number=number, erased_at__isnull=True).first()
        if member is None:
            raise ValueError(f"no active member with number {number!r}")
        answer = (row.get("granted") or "").strip().lower()
        if answer not in TRUE | FALSE:
            raise ValueError(f"granted must be yes or no, not {answer!r}")
        version = None
        if row.get("policy_version"):
            version = PolicyVersion.objects.filter(version=row["policy_version"].strip()).first()
            if version is None:
                raise ValueError(f"unknown policy version {row['policy_version']!r}")
        event = consent_set(
            member=member,
            purpose=(row.get("purpose") or "").strip(),
            granted=answer in TRUE,
            source=ConsentEvent.Source.IMPORT,
            policy_version=version,
        )
        return event is not None
