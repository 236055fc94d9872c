"""``manage.py import_balances FILE [--dry-run]``: bring opening points balances over from the
chain's old club.

The file's format is in docs/import.md ("Opening points balances"): ``external_id`` (the
member's, as the member import stored it), ``points``, ``earned_at`` and an optional
``note``. Prints one line per problem (line; column; value; reason, in the language of
``--language``, by default the site's) and, as its very last line,
``imported=<n> unchanged=<n> rejected=<n>``. With ``--dry-run`` nothing is written and the
counts say what a real run would do. The exit status is 0 whenever the file was read, also
when lines were rejected (the counts say so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from rewards.imports import balances_import


class Command(BaseCommand):
    help = (
        "Import opening points balances from a CSV file (docs/import.md). "
        "Try it with --dry-run first."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="the CSV file (UTF-8 or Windows-1252; ; or ,)")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check the file and count what would happen, writing nothing",
        )
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            default=settings.LANGUAGE_CODE,
            help="the language of the report's reasons",
        )

    def handle(self, *args: Any, file: str, dry_run: bool, language: str, **options: Any) -> None:
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        with translation.override(language):
            report = balances_import(data=data, dry_run=dry_run)
            for line in report.lines():
                self.stdout.write(line)
        self.stdout.write(report.summary)
