"""Benchmark: finding duplicates among an old club's members (issue 15, docs/duplicates.md).

    DATABASE_URL=... python -m bench.duplicates

Seeds ``BENCH_DUPLICATES_MEMBERS`` (100,000) members into the database ``DATABASE_URL`` names
(a migrated one of your own: the rows are written with ``COPY``, marked by their card token
``dupbench-...``, and kept for the next run), shaped like a Swedish club: names drawn from
common first and last names (so many people share a name), birth dates over 65 years, a
postcode for most (a few thousand postcodes, a town's few dozen with most members), a mobile
for most (families share one), a login with an email for most (gmail, outlook, hotmail,
others); and 1.5 % of the people a second time, the way they arrive twice (accents dropped,
a typo, gmail dots or a +tag, the phone in the other record, the same birth date).

Then times, on a clean queue each time:

- ``duplicates_scan()``, the nightly job, over every member;
- the scan again (every pair found already: refreshed only);
- ``duplicates_find_for_members`` for one member (a sign-up) and for 1,000 (an import batch).

The last line is ``members=<n> scan_s=<s> rescan_s=<s> pairs=<n> one_s=<s> batch_s=<s>``.
"""

from __future__ import annotations

import datetime
import io
import os
import random
import time

FIRST = [
    "Anna",
    "Eva",
    "Maria",
    "Karin",
    "Sara",
    "Lena",
    "Emma",
    "Kerstin",
    "Ingrid",
    "Marie",
    "Malin",
    "Jenny",
    "Hanna",
    "Linda",
    "Sofia",
    "Elin",
    "Ida",
    "Åsa",
    "Märta",
    "Linnéa",
    "Lars",
    "Mikael",
    "Anders",
    "Johan",
    "Per",
    "Erik",
    "Karl",
    "Peter",
    "Thomas",
    "Jan",
    "Daniel",
    "Fredrik",
    "Hans",
    "Andreas",
    "Stefan",
    "Mats",
    "Magnus",
    "Mattias",
    "Björn",
    "Jonas",
    "Göran",
    "Oskar",
    "Nils",
    "Åke",
    "Sven",
]
LAST = [
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
    "Olofsson",
    "Lindström",
    "Lindqvist",
    "Lindgren",
    "Berg",
    "Axelsson",
    "Bergström",
    "Lundberg",
    "Lind",
    "Lundgren",
    "Lundqvist",
    "Mattsson",
    "Berglund",
    "Fredriksson",
    "Sandberg",
    "Henriksson",
    "Forsberg",
    "Sjöberg",
    "Wallin",
    "Engström",
    "Eklund",
    "Danielsson",
    "Lundin",
    "Håkansson",
    "Björk",
    "Bergman",
    "Gunnarsson",
    "Holm",
    "Wikström",
    "Samuelsson",
    "Isaksson",
    "Fransson",
    "Bergqvist",
    "Nyström",
    "Holmberg",
    "Arvidsson",
    "Löfgren",
    "Söderberg",
    "Nyberg",
    "Blomqvist",
    "Claesson",
    "Nordström",
    "Mårtensson",
    "Lundström",
    "Viklund",
    "Björklund",
    "Eliasson",
]
DOMAINS = ["gmail.com"] * 5 + ["outlook.com", "hotmail.com", "hotmail.se", "telia.com", "live.se"]
ACCENTS = str.maketrans("åäöéÅÄÖÉ", "aaoeAAOE")


def _person(rng: random.Random, n: int, towns: list[str]) -> dict[str, object]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    start = datetime.date(1940, 1, 1)
    return {
        "first": first,
        "last": last,
        "birth": start + datetime.timedelta(days=rng.randrange(65 * 365))
        if rng.random() < 0.8
        else None,
        "postcode": rng.choice(towns) if rng.random() < 0.85 else "",
        "phone": f"+467{rng.choice('0236')}{n:07d}" if rng.random() < 0.75 else "",
        "email": f"{first}.{last}{n}@{rng.choice(DOMAINS)}".lower().translate(ACCENTS)
        if rng.random() < 0.7
        else "",
    }


def _twin(rng: random.Random, person: dict[str, object]) -> dict[str, object]:
    """The same person as they arrive a second time."""
    twin = dict(person)
    first, last = str(person["first"]), str(person["last"])
    way = rng.randrange(4)
    if way == 0:  # accents dropped at the till
        twin["first"], twin["last"] = first.translate(ACCENTS), last.translate(ACCENTS)
    elif way == 1:  # a typo
        i = rng.randrange(1, len(last) - 1)
        twin["last"] = last[:i] + last[i + 1 :]
    email = str(person["email"])
    if email.endswith("@gmail.com") and rng.random() < 0.7:
        local = email.split("@")[0].replace(".", "")
        twin["email"] = f"{local}+klubb@gmail.com" if rng.random() < 0.5 else f"{local}@gmail.com"
    else:
        twin["email"] = ""
    if rng.random() < 0.5:
        twin["phone"] = ""
    return twin


def seed(count: int) -> int:
    """Write ``count`` bench members (if there are fewer); returns how many there are."""
    from django.db import connection, transaction

    from members.models import Member

    have = Member.objects.filter(card_token__startswith="dupbench-").count()
    if have >= count:
        return have
    rng = random.Random(15)
    towns = [f"{rng.randrange(10000, 99999)}" for _ in range(3000)]
    towns = towns[:40] * 40 + towns  # a town's few dozen postcodes hold most members
    people: list[dict[str, object]] = []
    for n in range(count):
        if people and rng.random() < 0.015:
            people.append(_twin(rng, rng.choice(people)))
        else:
            people.append(_person(rng, n, towns))
    now = datetime.datetime.now(tz=datetime.UTC).isoformat()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM members_user")
        user_id = cursor.fetchone()[0] + 1
        users, members = io.StringIO(), io.StringIO()
        emails: set[object] = set()
        for n, p in enumerate(people):
            uid = "\\N"
            if p["email"] and p["email"] not in emails:
                emails.add(p["email"])
                uid = str(user_id)
                users.write(f"{user_id}\t!\tf\t\t\tf\tt\t{now}\t{p['email']}\n")
                user_id += 1
            birth = p["birth"].isoformat() if p["birth"] else "\\N"  # type: ignore[attr-defined]
            members.write(
                f"8{n:09d}\t{p['first']}\t{p['last']}\t{p['phone']}\t{birth}\tsv\t{now}\t"
                f"import\tdupbench-{n}\t{uid}\t{p['postcode']}\n"
            )
        with cursor.copy(
            "COPY members_user (id, password, is_superuser, first_name, last_name, is_staff, "
            "is_active, date_joined, email) FROM STDIN"
        ) as copy:
            copy.write(users.getvalue())
        with cursor.copy(
            "COPY members_member (membership_number, first_name, last_name, phone, birth_date, "
            "preferred_language, joined_at, join_channel, card_token, user_id, postcode) "
            "FROM STDIN"
        ) as copy:
            copy.write(members.getvalue())
        cursor.execute("SELECT setval(pg_get_serial_sequence('members_user', 'id'), %s)", [user_id])
        cursor.execute("ANALYZE members_member; ANALYZE members_user")
    return count


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from members.duplicates import duplicates_find_for_members, duplicates_scan
    from members.models import DuplicateCandidate, Member

    seed(int(os.environ.get("BENCH_DUPLICATES_MEMBERS", "100000")))
    DuplicateCandidate.objects.all().delete()

    started = time.perf_counter()
    pairs = duplicates_scan()
    scan_s = time.perf_counter() - started
    started = time.perf_counter()
    duplicates_scan()
    rescan_s = time.perf_counter() - started

    ids = list(
        Member.objects.filter(card_token__startswith="dupbench-")
        .order_by("?")
        .values_list("pk", flat=True)[:1001]
    )
    DuplicateCandidate.objects.all().delete()
    started = time.perf_counter()
    duplicates_find_for_members(member_ids=ids[:1])
    one_s = time.perf_counter() - started
    started = time.perf_counter()
    duplicates_find_for_members(member_ids=ids[1:])
    batch_s = time.perf_counter() - started
    print(
        f"members={Member.objects.count()} scan_s={scan_s:.2f} rescan_s={rescan_s:.2f} "
        f"pairs={pairs} one_s={one_s:.3f} batch_s={batch_s:.2f}"
    )


if __name__ == "__main__":
    main()
