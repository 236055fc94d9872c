"""Demo data, members' part: stores, staff logins, members, and the clock the history runs on.

The demo (docs/demo.md) is loaded by ``manage.py seed_demo`` (campaigns, the top app, composes
every app's part). This module holds what belongs to members:

- ``demo_members``: the members as plain rows from a seeded generator, the same for the same
  seed whatever the database holds;
- ``stores_ensure``, ``staff_ensure``, ``members_bulk_ensure``: idempotent; the bulk path
  writes ``--members 100000`` quickly and gives those members no history;
- ``member_join``: one member who signs up the way the web does (login, verified address,
  ``member_create``), for the members who get a history;
- ``Step`` and ``timeline_play``: the history is a list of timed steps, each calling the
  services a till, a member or staff would call, run in time order with the clock set to the
  step's time (time_machine), so every row is stamped as it would have been then.
"""

from __future__ import annotations

import datetime
import functools
import heapq
import itertools
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import time_machine
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from members.activity import Kind
from members.models import ActivityEvent, Member, Store, User
from members.roles import ADMINISTRATOR, DATA_PROTECTION_OFFICER, MARKETER, STORE_STAFF, roles_sync
from members.services import (
    card_token_generate,
    luhn_check_digit,
    member_create,
    member_email_verified,
    member_update_profile,
)

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
STORE_STAFF_EMAIL = "butik@demo.kundklubb.se"
MARKETER_EMAIL = "marknad@demo.kundklubb.se"

STAFF = [
    ("admin@demo.kundklubb.se", ADMINISTRATOR, True),
    (STORE_STAFF_EMAIL, STORE_STAFF, False),
    (MARKETER_EMAIL, MARKETER, False),
    ("dataskydd@demo.kundklubb.se", DATA_PROTECTION_OFFICER, False),
]

FIRST_NAMES = [
    *("Anna", "Eva", "Maria", "Karin", "Sara", "Lena", "Emma", "Kerstin", "Elin", "Ingrid"),
    *("Maja", "Ebba", "Alice", "Wilma", "Astrid", "Lars", "Mikael", "Anders", "Johan", "Erik"),
    *("Per", "Karl", "Peter", "Thomas", "Jan", "Oskar", "Lucas", "Hugo", "William", "Elias"),
    *("Nils", "Björn", "Åsa", "Örjan", "Linnéa", "Zeynep", "Ahmed", "Fatima", "Mohammed"),
    "Noor",
]
LAST_NAMES = [
    *("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson"),
    *("Persson", "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson"),
    *("Bengtsson", "Jönsson", "Lindberg", "Jakobsson", "Magnusson", "Lindström", "Olofsson"),
    *("Lindqvist", "Lindgren", "Axelsson", "Berg", "Bergström", "Lundberg", "Lind"),
    *("Lundgren", "Mattsson", "Berglund", "Fredriksson", "Sandberg", "Henriksson", "Öberg"),
    "Åberg",
]

# Bulk members joined over the five years before this moment, so their rows are the same
# whenever they are loaded. Members with a history join relative to the day of loading.
DEMO_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
PHYSICAL_STORE_CODES = [code for code, _name, _city in STORES]


def demo_members(*, seed: int, count: int) -> Iterator[dict[str, Any]]:
    """The demo members as plain rows: the same seed always gives the same members.

    Depends on nothing in the database, so a second run (or a larger ``--members``) draws
    exactly the rows of the first run before adding new ones. Row 0 is the demo login.
    """
    rng = random.Random(seed)
    numbers: set[str] = set()
    for i in range(count):
        while True:
            body = str(rng.randint(10**8, 10**9 - 1))
            number = body + luhn_check_digit(body)
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
            # The demo login reads Swedish pages; the others are one in ten English.
            "preferred_language": "en" if english and i > 0 else "sv",
            "home_store_code": store_code if has_store or i == 0 else None,
            "joined_at": DEMO_EPOCH - joined_ago,
            "join_channel": channel,
        }


# --- stores, staff, bulk members ------------------------------------------------------------


def stores_ensure() -> dict[str, Store]:
    """The seven stores and the web shop, by code (created once)."""
    for code, name, city in STORES:
        Store.objects.get_or_create(code=code, defaults={"name": name, "city": city})
    Store.objects.get_or_create(
        code=WEBSHOP[0], defaults={"name": WEBSHOP[1], "kind": Store.Kind.WEBSHOP}
    )
    codes = [code for code, *_rest in [*STORES, WEBSHOP]]
    return {store.code: store for store in Store.objects.filter(code__in=codes)}


def staff_ensure() -> dict[str, User]:
    """The four staff logins, each in its role group (created once; never changed)."""
    roles_sync()
    users = {u.email: u for u in User.objects.filter(email__in=[e for e, *_rest in STAFF])}
    for email, role, superuser in STAFF:
        if email in users:
            continue
        user = User.objects.create(
            email=email,
            is_staff=True,
            is_superuser=superuser,
            password=demo_password_hash(),
        )
        user.groups.add(Group.objects.get(name=role))
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        users[email] = user
    return users


@functools.cache
def demo_password_hash() -> str:
    """One hash for every demo login, made once and only when a login is created: hashing
    is slow on purpose, and these are demo data."""
    return make_password(DEMO_PASSWORD)


def members_bulk_ensure(
    *,
    seed: int,
    count: int,
    stores: dict[str, Store],
    batch_size: int = 5000,
) -> int:
    """Write the rows of ``demo_members`` that are not in the database yet, in bulk (users,
    verified addresses, members, "joined" events); returns how many were added. These
    members get no history: ``--members 100000`` stays fast."""
    existing = set(
        User.objects.filter(email__endswith="@" + DEMO_DOMAIN).values_list("email", flat=True)
    )
    created = 0
    rows: list[dict[str, Any]] = []
    for row in demo_members(seed=seed, count=count):
        if row["email"] in existing:
            continue
        rows.append(row)
        if len(rows) >= batch_size:
            created += _bulk_write(rows, stores)
            rows = []
    if rows:
        created += _bulk_write(rows, stores)
    return created


def _bulk_write(rows: list[dict[str, Any]], stores: dict[str, Store]) -> int:
    password_hash = demo_password_hash()
    with transaction.atomic():
        users = User.objects.bulk_create(
            [
                User(email=r["email"], password=password_hash, date_joined=r["joined_at"])
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
                    first_name=r["first_name"],
                    last_name=r["last_name"],
                    membership_number=r["membership_number"],
                    phone=r["phone"],
                    birth_date=r["birth_date"],
                    preferred_language=r["preferred_language"],
                    home_store=stores.get(r["home_store_code"] or ""),
                    joined_at=r["joined_at"],
                    join_channel=r["join_channel"],
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


# --- members with a history -----------------------------------------------------------------


@dataclass
class DemoPerson:
    """A member who gets a history: their row, when they join, and (once joined) the member.

    ``rng(topic)`` gives each app its own random stream for this member, seeded by the demo
    seed and the membership number, so one app's draws never shift another's."""

    index: int
    row: dict[str, Any]
    joined_at: datetime.datetime
    seed: int
    member: Member | None = None

    @property
    def is_demo_login(self) -> bool:
        return self.row["email"] == DEMO_MEMBER_EMAIL

    def rng(self, topic: str) -> random.Random:
        return random.Random(f"{self.seed}:{self.row['membership_number']}:{topic}")

    def joined(self) -> Member:
        assert self.member is not None, "the member has not joined yet"
        return self.member


def member_join(*, person: DemoPerson, stores: dict[str, Store]) -> Member:
    """Sign the person up as the web does: a login with a verified address, then
    ``member_create`` (the "joined" event), with the mobile number if they have one. The
    birth date comes later, when the member completes their profile (``profile_complete``).
    Call at the joining time (the clock)."""
    row = person.row
    if person.member is not None:  # loaded by an earlier version of the demo, without history
        return person.member
    with transaction.atomic():
        user = User.objects.create(
            email=row["email"], password=demo_password_hash(), date_joined=timezone.now()
        )
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        member = member_create(
            user=user,
            first_name=row["first_name"],
            last_name=row["last_name"],
            phone=row["phone"],
            preferred_language=row["preferred_language"],
            home_store=stores.get(row["home_store_code"] or ""),
            join_channel=row["join_channel"] if row["join_channel"] != "import" else "web",
            source="web" if row["join_channel"] == "web" else "store",
            membership_number=row["membership_number"],
        )
        member_email_verified(member=member)
    person.member = member
    return member


def profile_complete(*, person: DemoPerson, birth_date: datetime.date, phone: str = "") -> None:
    """The member fills in their profile on "My profile" (birth date, and the mobile number
    if it was missing): with name, phone and birth date it is complete."""
    member = person.joined()
    fields: dict[str, Any] = {"birth_date": birth_date}
    if phone and not member.phone:
        fields["phone"] = phone
    person.member = member_update_profile(member=member, actor=member.user, **fields)


def members_existing(people: list[DemoPerson]) -> None:
    """Give each person who is a member already (a database loaded by an earlier version of
    the demo, whose members had no history) that member: they are not signed up again."""
    emails = [p.row["email"] for p in people]
    by_email = {
        member.user.email: member
        for member in Member.objects.filter(user__email__in=emails).select_related("user")
        if member.user is not None
    }
    for person in people:
        person.member = by_email.get(person.row["email"])


# --- the clock ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """Something that happens at ``at``: ``run`` calls services, and may return follow-up
    steps (at ``at`` or later), e.g. a member who got an offer activates it two days on."""

    at: datetime.datetime
    run: Callable[[], Iterable[Step] | None] = field(compare=False)


def local_time(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    """``hour:minute`` on ``day`` in Europe/Stockholm (keep hours out of 02-03, DST)."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def timeline_play(steps: Iterable[Step], *, until: datetime.datetime) -> int:
    """Run ``steps`` in time order (ties in the order given) with the clock stopped at each
    step's time, and their follow-ups as they come; returns how many ran. Every step must
    be before ``until`` (the real time the history leads up to)."""
    heap: list[tuple[datetime.datetime, int, Step]] = []
    order = itertools.count()

    def push(step: Step, *, not_before: datetime.datetime | None = None) -> None:
        if step.at >= until:
            raise ValueError(f"A demo step at {step.at} is not in the past ({until}).")
        if not_before is not None and step.at < not_before:
            raise ValueError(f"A follow-up at {step.at} goes back before {not_before}.")
        heapq.heappush(heap, (step.at, next(order), step))

    for step in steps:
        push(step)
    if not heap:
        return 0
    played = 0
    # UTC destinations: a zoneinfo one would make time_machine set TZ for the process.
    with time_machine.travel(heap[0][0].astimezone(datetime.UTC), tick=False) as clock:
        while heap:
            at, _order, step = heapq.heappop(heap)
            clock.move_to(at.astimezone(datetime.UTC))
            for follow_up in step.run() or ():
                push(follow_up, not_before=at)
            played += 1
    return played
