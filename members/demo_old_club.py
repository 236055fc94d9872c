"""Demo data: the chain's old club brought over (issue 15; docs/demo.md "The old club").

What an administrator's first week looks like: the old club's member file uploaded in the
back-office, checked by a dry run (three lines rejected, with reasons), imported for real,
and the opening points balances after it; members who had joined the old club at a till and
this club online are proposed as duplicates, the data protection officer merged one pair,
found another to be two people, and one waits in the queue.

Everything goes through the services staff use (``members.import_jobs``,
``members.duplicates``), once: a second run finds the old club's file among the imports and
adds nothing.
"""

from __future__ import annotations

import datetime
import random

from django.db.models import Q
from django.utils import timezone

from members.demo import DEMO_DOMAIN, DEMO_MEMBER_EMAIL, FIRST_NAMES, LAST_NAMES, STAFF
from members.duplicates import duplicate_dismiss, duplicate_merge, duplicates_find_for_members
from members.import_jobs import import_job_again, import_job_create, import_job_run
from members.models import DuplicateCandidate, ImportJob, Member, Store, User
from members.roles import ADMINISTRATOR, DATA_PROTECTION_OFFICER

MEMBERS_FILE = "gamla-klubben-medlemmar.csv"
BALANCES_FILE = "gamla-klubben-saldon.csv"
OLD_MEMBERS = 40
HEADER = (
    "external_id;first_name;last_name;email;phone;birth_date;postcode;home_store;joined_at;language"
)


def _staff(role: str) -> User | None:
    email = next((email for email, staff_role, _su in STAFF if staff_role == role), "")
    return User.objects.filter(email=email).first()


def _local_phone(e164: str) -> str:
    """+46701234567 as a till wrote it: 070-123 45 67."""
    digits = "0" + e164.removeprefix("+46")
    return f"{digits[:3]}-{digits[3:6]} {digits[6:8]} {digits[8:]}"


def _twins() -> list[Member]:
    """Members with a history here (not the demo login) who once joined the old club too."""
    return list(
        Member.objects.filter(
            user__email__endswith=f"@{DEMO_DOMAIN}",
            purchases__isnull=False,
            birth_date__isnull=False,
            merged_into__isnull=True,
            erased_at__isnull=True,
        )
        .exclude(user__email=DEMO_MEMBER_EMAIL)
        .exclude(phone="")
        .distinct()
        .order_by("pk")[:3]
    )


def _members_file(rng: random.Random, stores: dict[str, Store], twins: list[Member]) -> bytes:
    codes = sorted(code for code, store in stores.items() if store.kind == Store.Kind.STORE)
    lines = []
    for n in range(1, OLD_MEMBERS + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        born = datetime.date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28))
        joined = datetime.date(rng.randint(2012, 2024), rng.randint(1, 12), rng.randint(1, 28))
        email = f"gk{n}@{DEMO_DOMAIN}" if n % 3 else ""
        phone = f"070-{rng.randint(0, 999):03d} {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"
        lines.append(
            f"GK-{1000 + n};{first};{last};{email};{phone};{born.isoformat()};"
            f"{rng.randint(100, 984)} {rng.randint(10, 99)};{rng.choice(codes)};"
            f"{joined.isoformat()} {rng.randint(9, 19)}:{rng.choice(['05', '30', '45'])};sv"
        )
    # the same people, joined at a till of the old club: same name, birth date and phone
    for n, member in enumerate(twins[:2], start=1):
        assert member.birth_date is not None
        lines.append(
            f"GK-T{n};{member.first_name};{member.last_name};;{_local_phone(member.phone)};"
            f"{member.birth_date.isoformat()};{member.postcode};{codes[n]};2018-05-0{n};sv"
        )
    # a namesake: same name and birth date, another phone and town (two people)
    if len(twins) > 2:
        namesake = twins[2]
        assert namesake.birth_date is not None
        lines.append(
            f"GK-T3;{namesake.first_name};{namesake.last_name};;070-555 01 23;"
            f"{namesake.birth_date.isoformat()};981 31;{codes[0]};2016-09-12;sv"
        )
    # lines the dry run rejects, with reasons
    lines += [
        f"GK-2001;Stina;Ek;stina.ek@{DEMO_DOMAIN};070-12;1979-02-30;;{codes[0]};2015-03-01;sv",
        f"GK-2002;Olle;Fors;;0701234;2090-01-01;;{codes[1]};2019-01-01;sv",
        "GK-2003;Greta;Björk;;;1961-07-07;;stockholm-gamla;2011-11-11;sv",
    ]
    return ("\r\n".join([HEADER, *lines]) + "\r\n").encode("cp1252")


def _balances_file(rng: random.Random) -> bytes:
    today = timezone.localdate()
    lines = ["external_id;points;earned_at;note"]
    for n in range(1, OLD_MEMBERS + 1):
        earned = today - datetime.timedelta(days=rng.randint(30, 400))
        points = rng.choice([150, 300, 450, 800, 1200, 2500])
        lines.append(f"GK-{1000 + n};{points};{earned.isoformat()};Saldo i gamla klubben")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")


def _run(*, kind: str, name: str, data: bytes, admin: User | None) -> ImportJob:
    """Upload, dry run, then import for real, as an administrator does."""
    dry = import_job_create(
        kind=kind, file_name=name, data=data, dry_run=True, actor=admin, language="sv"
    )
    import_job_run(job_id=dry.pk)
    real = import_job_again(job_id=dry.pk, dry_run=False, actor=admin)
    import_job_run(job_id=real.pk)
    return ImportJob.objects.get(pk=real.pk)


def old_club_ensure(*, seed: int, stores: dict[str, Store]) -> int:
    """Bring the old club over once; returns the members it imported (0 on later runs)."""
    if ImportJob.objects.filter(file_name=MEMBERS_FILE).exists():
        return 0
    rng = random.Random(seed + 15)  # noqa: S311 - demo data, not secrets
    admin, dpo = _staff(ADMINISTRATOR), _staff(DATA_PROTECTION_OFFICER)
    twins = _twins()
    members = _run(
        kind="members", name=MEMBERS_FILE, data=_members_file(rng, stores, twins), admin=admin
    )
    _run(kind="balances", name=BALANCES_FILE, data=_balances_file(rng), admin=admin)
    imported = list(
        Member.objects.filter(external_id__startswith="GK-T").values_list("pk", flat=True)
    )
    duplicates_find_for_members(member_ids=imported)
    decisions = [
        ("GK-T1", "merge", "Samma person: samma mobilnummer, kontrollerat i butik."),
        ("GK-T3", "dismiss", ""),
    ]
    for external_id, decision, reason in decisions:
        old = Member.objects.filter(external_id=external_id).first()
        if old is None:
            continue
        pair = DuplicateCandidate.objects.filter(
            Q(member_a=old) | Q(member_b=old), status=DuplicateCandidate.Status.OPEN
        ).first()
        if pair is None:
            continue
        if decision == "merge":
            online = pair.member_a_id if pair.member_b_id == old.pk else pair.member_b_id
            duplicate_merge(candidate_id=pair.pk, survivor_id=online, actor=dpo, reason=reason)
        else:
            duplicate_dismiss(candidate_id=pair.pk, actor=dpo)
    return members.imported
