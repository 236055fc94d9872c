"""Deterministic demo data: stores, staff logins and Swedish-looking members.

Running it twice adds nothing the first run made; ``--members 100000`` writes in bulk.
"""

from __future__ import annotations

import datetime
import random
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from members.activity import Kind
from members.models import ActivityEvent, Member, Store, User
from members.roles import ADMINISTRATOR, DATA_PROTECTION_OFFICER, MARKETER, STORE_STAFF, roles_sync
from members.services import _luhn_check_digit, card_token_generate

DEMO_PASSWORD = "kundklubb-demo"  # noqa: S105 - printed by make run; demo data only
DEMO_MEMBER_EMAIL = "medlem@demo.kundklubb.se"
DEMO_DOMAIN = "demo.kundklubb.se"

STORES = [
    ("sthlm-drottning", "Drottninggatan", "Stockholm"),
    ("sthlm-sodermalm", "Södermalm", "Stockholm"),
    ("gbg-avenyn", "Avenyn", "Göteborg"),
    ("malmo-centrum", "Malmö Centrum", "Malmö"),
    ("uppsala-forum", "Forum", "Uppsala"),
    ("umea-utopia", "Utopia", "Umeå"),
    ("linkoping-trad", "Trädgårdstorget", "Linköping"),
]
WEBSHOP = ("webshop", "Webbutiken", "")

STAFF = [
    ("admin@demo.kundklubb.se", ADMINISTRATOR, True),
    ("butik@demo.kundklubb.se", STORE_STAFF, False),
    ("marknad@demo.kundklubb.se", MARKETER, False),
    ("dataskydd@demo.kundklubb.se", DATA_PROTECTION_OFFICER, False),
]

FIRST_NAMES = [
    "Anna",
    "Eva",
    "Maria",
    "Karin",
    "Sara",
    "Lena",
    "Emma",
    "Kerstin",
    "Elin",
    "Ingrid",
    "Maja",
    "Ebba",
    "Alice",
    "Wilma",
    "Astrid",
    "Lars",
    "Mikael",
    "Anders",
    "Johan",
    "Erik",
    "Per",
    "Karl",
    "Peter",
    "Thomas",
    "Jan",
    "Oskar",
    "Lucas",
    "Hugo",
    "William",
    "Elias",
    "Nils",
    "Björn",
    "Åsa",
    "Örjan",
    "Linnéa",
    "Zeynep",
    "Ahmed",
    "Fatima",
    "Mohammed",
    "Noor",
]
LAST_NAMES = [
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Pettersson",
    "Jonsson",
    "Jansson",
    "Hansson",
    "Bengtsson",
    "Jönsson",
    "Lindberg",
    "Jakobsson",
    "Magnusson",
    "Lindström",
    "Olofsson",
    "Lindqvist",
    "Lindgren",
    "Axelsson",
    "Berg",
    "Bergström",
    "Lundberg",
    "Lind",
    "Lundgren",
    "Mattsson",
    "Berglund",
    "Fredriksson",
    "Sandberg",
    "Henriksson",
    "Öberg",
    "Åberg",
]


class Command(BaseCommand):
    help = "Load deterministic demo data (stores, staff, members). Safe to run repeatedly."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=50, help="How many demo members.")
        parser.add_argument("--seed", type=int, default=20261122, help="Random seed.")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(options["seed"])
        with transaction.atomic():
            stores = self._stores()
            self._staff()
        created = self._members(rng, options["members"], stores, options["batch_size"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {len(stores)} stores, {created} new members "
                f"({Member.objects.count()} in all)."
            )
        )

    def _stores(self) -> list[Store]:
        for code, name, city in STORES:
            Store.objects.get_or_create(code=code, defaults={"name": name, "city": city})
        Store.objects.get_or_create(
            code=WEBSHOP[0], defaults={"name": WEBSHOP[1], "kind": Store.Kind.WEBSHOP}
        )
        return list(Store.objects.filter(code__in=[c for c, *_ in [*STORES, WEBSHOP]]))

    def _staff(self) -> None:
        roles_sync()
        password = make_password(DEMO_PASSWORD)
        for email, role, superuser in STAFF:
            user, created = User.objects.get_or_create(
                email=email,
                defaults={"is_staff": True, "is_superuser": superuser, "password": password},
            )
            if created:
                user.groups.add(Group.objects.get(name=role))
                EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)

    def _members(self, rng: random.Random, count: int, stores: list[Store], batch: int) -> int:
        physical = [s for s in stores if s.kind == Store.Kind.STORE]
        existing_emails = set(
            User.objects.filter(email__endswith="@" + DEMO_DOMAIN).values_list("email", flat=True)
        )
        taken_numbers = set(Member.objects.values_list("membership_number", flat=True))
        password = make_password(DEMO_PASSWORD)
        now = timezone.now()
        created = 0
        rows: list[dict[str, Any]] = []
        for i in range(count):
            first = rng.choice(FIRST_NAMES)
            last = rng.choice(LAST_NAMES)
            email = DEMO_MEMBER_EMAIL if i == 0 else f"medlem{i}@{DEMO_DOMAIN}"
            number = self._number(rng, taken_numbers)
            days_ago = rng.randint(0, 5 * 365)
            row = {
                "email": email,
                "first_name": first,
                "last_name": last,
                "membership_number": number,
                "phone": f"+4670{rng.randint(0, 9999999):07d}" if rng.random() < 0.8 else "",
                "birth_date": datetime.date(
                    rng.randint(1940, 2008), rng.randint(1, 12), rng.randint(1, 28)
                )
                if rng.random() < 0.7
                else None,
                "preferred_language": "en" if rng.random() < 0.1 else "sv",
                "home_store": rng.choice(physical) if physical and rng.random() < 0.9 else None,
                "joined_at": now - datetime.timedelta(days=days_ago, minutes=rng.randint(0, 1440)),
                "join_channel": rng.choice(["web", "web", "store", "webshop"]),
            }
            if email in existing_emails:
                continue
            rows.append(row)
            if len(rows) >= batch:
                created += self._write(rows, password)
                rows = []
        if rows:
            created += self._write(rows, password)
        return created

    @staticmethod
    def _number(rng: random.Random, taken: set[str]) -> str:
        while True:
            body = str(rng.randint(10**8, 10**9 - 1))
            number = body + _luhn_check_digit(body)
            if number not in taken:
                taken.add(number)
                return number

    @staticmethod
    def _write(rows: list[dict[str, Any]], password: str) -> int:
        with transaction.atomic():
            users = User.objects.bulk_create(
                [
                    User(email=r["email"], password=password, date_joined=r["joined_at"])
                    for r in rows
                ]
            )
            EmailAddress.objects.bulk_create(
                [EmailAddress(user=u, email=u.email, verified=True, primary=True) for u in users]
            )
            members = Member.objects.bulk_create(
                [
                    Member(
                        user=user,
                        card_token=card_token_generate(),
                        **{k: v for k, v in r.items() if k != "email"},
                    )
                    for user, r in zip(users, rows, strict=True)
                ]
            )
            ActivityEvent.objects.bulk_create(
                [
                    ActivityEvent(
                        member=m,
                        kind=Kind.JOINED,
                        data={"channel": m.join_channel, "seeded": True},
                        source="import",
                        store=m.home_store,
                        created_at=m.joined_at,
                    )
                    for m in members
                ]
            )
        return len(members)
