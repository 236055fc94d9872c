"""Deterministic demo data: stores, staff logins and Swedish-looking members.

Running it twice adds nothing the first run made; ``--members 100000`` writes in bulk.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

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


# Join dates are spread over the five years before this moment, so the data is the same
# whenever it is loaded.
DEMO_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
PHYSICAL_STORE_CODES = [code for code, _name, _city in STORES]


def demo_members(*, seed: int, count: int) -> Iterator[dict[str, Any]]:
    """The demo members as plain rows: the same seed always gives the same members.

    Depends on nothing in the database, so a second run (or a larger ``--members``) draws
    exactly the rows of the first run before adding new ones.
    """
    rng = random.Random(seed)
    numbers: set[str] = set()
    for i in range(count):
        while True:
            body = str(rng.randint(10**8, 10**9 - 1))
            number = body + _luhn_check_digit(body)
            if number not in numbers:
                numbers.add(number)
                break
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        has_phone = rng.random() < 0.8
        phone_digits = rng.randint(0, 9999999)
        has_birth_date = rng.random() < 0.7
        birth_date = datetime.date(rng.randint(1940, 2008), rng.randint(1, 12), rng.randint(1, 28))
        english = rng.random() < 0.1
        has_store = rng.random() < 0.9
        store_code = rng.choice(PHYSICAL_STORE_CODES)
        joined_ago = datetime.timedelta(days=rng.randint(0, 5 * 365), minutes=rng.randint(0, 1440))
        channel = rng.choice(["web", "web", "store", "webshop"])
        yield {
            "email": DEMO_MEMBER_EMAIL if i == 0 else f"medlem{i}@{DEMO_DOMAIN}",
            "first_name": first,
            "last_name": last,
            "membership_number": number,
            "phone": f"+4670{phone_digits:07d}" if has_phone else "",
            "birth_date": birth_date if has_birth_date else None,
            "preferred_language": "en" if english else "sv",
            "home_store_code": store_code if has_store else None,
            "joined_at": DEMO_EPOCH - joined_ago,
            "join_channel": channel,
        }


class Command(BaseCommand):
    help = "Load deterministic demo data (stores, staff, members). Safe to run repeatedly."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=50, help="How many demo members.")
        parser.add_argument("--seed", type=int, default=20261122, help="Random seed.")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            stores = self._stores()
            self._staff()
        created = self._members(options["seed"], options["members"], stores, options["batch_size"])
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

    def _members(self, seed: int, count: int, stores: list[Store], batch: int) -> int:
        by_code = {s.code: s for s in stores}
        existing_emails = set(
            User.objects.filter(email__endswith="@" + DEMO_DOMAIN).values_list("email", flat=True)
        )
        password = make_password(DEMO_PASSWORD)
        created = 0
        rows: list[dict[str, Any]] = []
        for row in demo_members(seed=seed, count=count):
            if row["email"] in existing_emails:
                continue
            row["home_store"] = by_code.get(row.pop("home_store_code") or "")
            rows.append(row)
            if len(rows) >= batch:
                created += self._write(rows, password)
                rows = []
        if rows:
            created += self._write(rows, password)
        return created

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
