"""``manage.py import_purchases FILE [--dry-run] [--earn]``: bring historical purchases with
their lines over from the chain's old club or tills.

The file's format is in docs/import.md ("Historical purchases"): one row per purchase line,
the purchase's columns repeated on each of its lines. Prints one line per problem (line;
column; value; reason, in the language of ``--language``) and, as its very last line,
``imported=<n> unchanged=<n> rejected=<n> lines=<n>`` (purchases, and the lines of those
imported). ``--earn`` earns points for them by today's rules (docs/import.md says exactly
how); without it history earns nothing. The exit status is 0 whenever the file was read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from rewards.purchases.imports import purchases_import


class Command(BaseCommand):
    help = (
        "Import historical purchases with their lines from a CSV file (docs/import.md). "
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
            "--earn",
            action="store_true",
            help="earn points for the purchases by today's rules (docs/import.md)",
        )
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            default=settings.LANGUAGE_CODE,
            help="the language of the report's reasons",
        )

    def handle(
        self, *args: Any, file: str, dry_run: bool, earn: bool, language: str, **options: Any
    ) -> None:
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        with translation.override(language):
            report = purchases_import(data=data, dry_run=dry_run, earn=earn)
            for line in report.lines():
                self.stdout.write(line)
        self.stdout.write(report.summary)
