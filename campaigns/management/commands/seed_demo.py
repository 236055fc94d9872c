"""``manage.py seed_demo``: load the demo (docs/demo.md). Safe to run repeatedly."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from campaigns.demo import DEFAULT_HISTORY, DEFAULT_MEMBERS, DEFAULT_SEED, demo_load
from members.demo import DEMO_MEMBER_EMAIL, DEMO_PASSWORD


class Command(BaseCommand):
    help = (
        "Load deterministic demo data: stores, staff logins, members, the loyalty set-up and, "
        "once, a year of history with campaigns. Running it again adds nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--members", type=int, default=DEFAULT_MEMBERS, help="How many demo members in all."
        )
        parser.add_argument(
            "--history",
            type=int,
            default=DEFAULT_HISTORY,
            help="How many of them get a year of history (the first run only).",
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Random seed.")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args: Any, **options: Any) -> None:
        summary = demo_load(
            seed=options["seed"],
            members=options["members"],
            history=options["history"],
            batch_size=options["batch_size"],
            log=self.stdout.write,
        )
        if summary.history_loaded:
            history = (
                f"a year of history for {summary.history_members} members "
                f"({summary.purchases} purchases, "
                f"{summary.marketing_consent_share:.0%} with marketing consent)"
            )
        elif options["history"] > 0 and options["members"] > 0:
            history = "history already loaded"
        else:
            history = "no history asked for"
        old_club = (
            f", {summary.old_club_members} brought over from the old club"
            if summary.old_club_members
            else ""
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready in {summary.seconds:.1f} s: {summary.stores} stores, "
                f"{summary.members_new} new members ({summary.members_total} in all), {history}, "
                f"{summary.arrivals_today} arrived at a store today{old_club}. "
                f"Log in as {DEMO_MEMBER_EMAIL} / {DEMO_PASSWORD}."
            )
        )
        if options["verbosity"] > 1:
            self.stdout.write(f"Timings: {summary.timings}")
