"""Benchmark: importing an old club (issue 15): members from a file, against a ``COPY`` of the
same rows, and historical purchase lines.

    python -m bench.imports            (make bench-import)

1. Creates a fresh benchmark database (``BENCH_IMPORT_DATABASE_URL``), migrates it and adds
   20 stores.
2. Writes two files under ``var/bench-import/`` the way a Swedish system exports them
   (``;``, UTF-8, decimal commas, phones in local forms): ``BENCH_IMPORT_MEMBERS`` members
   (every column, an email for most, consent to email offers for half) and
   ``BENCH_IMPORT_LINES`` purchase lines (one row per line, 1 to 9 lines a purchase, the
   purchase's columns repeated), the members' purchases over two years.
3. Baseline, same run: ``COPY`` of the member file into an unconstrained table of text
   columns (no index, no key, no check), inside one transaction, committed.
4. ``manage.py import_members``' service on the member file (every line checked, users,
   addresses, members, joined events and consents written, committed in batches).
   ``import_ratio`` is the import's rate over the ``COPY``'s (rows per second each).
5. ``import_purchases``' service on the purchase file (without ``--earn``).

The last line is exactly
``members=<n> members_s=<seconds> import_ratio=<members rate / COPY rate>
lines_s=<seconds for the purchase lines>`` (one line). Results: docs/benchmarks.md
("Import").
"""

from __future__ import annotations

import datetime
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get(
    "BENCH_IMPORT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kundklubb_bench_import"
)
REDIS_URL = os.environ.get("BENCH_IMPORT_REDIS_URL", "redis://127.0.0.1:6379/13")
MEMBERS = int(os.environ.get("BENCH_IMPORT_MEMBERS", "100000"))
LINES = int(os.environ.get("BENCH_IMPORT_LINES", "1000000"))
STORES = 20
FOLDER = ROOT / "var" / "bench-import"
FIRST = ["Åsa", "Jörgen", "Lisa", "Erik", "Märta", "Anders", "Karin", "Per", "Sofia", "Nils"]
LAST = ["Öberg", "Lindström", "Ek", "Berg", "Wäck", "Sjögren", "Andersson", "Nilsson", "Åkesson"]
MEMBER_HEADER = (
    "external_id;first_name;last_name;email;phone;birth_date;postcode;home_store;joined_at;"
    "language;consent_marketing_email;consent_marketing_email_at;consent_marketing_email_source"
)
PURCHASE_HEADER = "purchase_id;external_id;store;purchased_at;total;sku;product;quantity;amount"


def log(message: str) -> None:
    print(message, flush=True)


def django_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DJANGO_DEBUG": "false",
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "CELERY_BROKER_URL": REDIS_URL,
            "CACHE_KEY_PREFIX": "bench-import",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def database_recreate() -> None:
    url = DATABASE_URL.replace("postgres://", "postgresql://", 1)
    name = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
    with psycopg.connect(
        psycopg.conninfo.make_conninfo(url, dbname="postgres"), autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _phone(rng: random.Random, n: int) -> str:
    local = f"70{n % 10_000_000:07d}"
    form = n % 4
    if form == 0:
        return f"0{local[:2]}-{local[2:5]} {local[5:7]} {local[7:]}"
    if form == 1:
        return f"0{local}"
    if form == 2:
        return f"+46 {local[:2]} {local[2:5]} {local[5:7]} {local[7:]}"
    return ""


def members_file(path: Path, *, count: int, seed: int = 15) -> None:
    """``count`` members, every column filled as a real export has them (some empty)."""
    rng = random.Random(seed)
    rows = [MEMBER_HEADER]
    for n in range(count):
        first, last = FIRST[n % len(FIRST)], LAST[(n // 7) % len(LAST)]
        email = f"medlem{n}@example.se" if n % 5 else ""
        birth = f"{1940 + n % 60}-{1 + n % 12:02d}-{1 + n % 28:02d}" if n % 3 else ""
        postcode = f"{11000 + n % 88000:05d}"
        postcode = f"{postcode[:3]} {postcode[3:]}" if n % 2 else postcode
        joined = f"{2010 + n % 15}-{1 + n % 12:02d}-{1 + n % 28:02d} {n % 24:02d}:{n % 60:02d}"
        consent = ("ja", f"20{21 + n % 4}-03-01", "webbformulär") if n % 2 else ("", "", "")
        rows.append(
            ";".join(
                [
                    f"K-{n:07d}",
                    first,
                    last,
                    email,
                    _phone(rng, n),
                    birth,
                    postcode,
                    f"butik-{n % STORES:02d}",
                    joined,
                    "en" if n % 9 == 0 else "sv",
                    *consent,
                ]
            )
        )
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode())


def purchases_file(path: Path, *, lines: int, members: int, seed: int = 16) -> int:
    """About ``lines`` purchase lines (whole purchases of 1 to 9 lines); returns the count."""
    rng = random.Random(seed)
    start = datetime.datetime(2024, 12, 1, 9, 0, tzinfo=datetime.UTC)  # written as local time
    rows = [PURCHASE_HEADER]
    written = purchase = 0
    while written < lines:
        size = min(rng.randint(1, 9), lines - written)
        purchase += 1
        member = f"K-{rng.randrange(members):07d}"
        store = f"butik-{rng.randrange(STORES):02d}"
        at = (start + datetime.timedelta(minutes=rng.randrange(700_000))).strftime("%Y-%m-%d %H:%M")
        amounts = [rng.randrange(1_000, 150_000) for _ in range(size)]
        quantities = [rng.choice((1, 1, 1, 2, 3)) for _ in range(size)]
        total = _kronor(sum(amounts))
        for amount, quantity in zip(amounts, quantities, strict=True):
            sku = f"{100_000 + rng.randrange(5_000)}"
            rows.append(
                f"P-{purchase:08d};{member};{store};{at};{total};{sku};Artikel {sku};"
                f"{quantity};{_kronor(amount)}"
            )
        written += size
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode())
    return written


def _kronor(ore: int) -> str:
    """``123450`` -> ``1 234,50``: a space between thousands, a decimal comma."""
    kronor = f"{ore // 100:,}".replace(",", " ")
    return f"{kronor},{ore % 100:02d}"


def copy_baseline(path: Path) -> float:
    """Seconds to ``COPY`` the member file into an unconstrained table, committed."""
    from django.db import connection, transaction

    columns = MEMBER_HEADER.split(";")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_members_copy")
        cursor.execute(
            "CREATE TABLE bench_members_copy ("
            + ", ".join(f"{column} text" for column in columns)
            + ")"
        )
    data = path.read_bytes()
    started = time.perf_counter()
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(
            "COPY bench_members_copy FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER ';')"
        ) as copy,
    ):
        copy.write(data)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_members_copy")
        copied = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_members_copy")
    if copied != MEMBERS:
        raise RuntimeError(f"COPY wrote {copied} rows, not {MEMBERS}")
    return elapsed


def main() -> int:
    env = django_env()
    os.environ.update(env)
    log(
        f"bench.imports: {MEMBERS} members, {LINES} purchase lines, {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} before"
    )
    database_recreate()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    import django

    django.setup()
    from django.db import connection

    from members.imports import members_import
    from members.models import Member, Store
    from rewards.models import Purchase, PurchaseLine
    from rewards.purchases.imports import purchases_import

    Store.objects.bulk_create(
        [Store(code=f"butik-{n:02d}", name=f"Butik {n}") for n in range(STORES)]
    )
    FOLDER.mkdir(parents=True, exist_ok=True)
    members_path, purchases_path = FOLDER / "members.csv", FOLDER / "purchases.csv"
    started = time.perf_counter()
    members_file(members_path, count=MEMBERS)
    lines = purchases_file(purchases_path, lines=LINES, members=MEMBERS)
    log(
        f"files: {members_path.stat().st_size / 1e6:.1f} MB of members, "
        f"{purchases_path.stat().st_size / 1e6:.1f} MB of purchase lines "
        f"({time.perf_counter() - started:.1f} s to write)"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        log(f"server: {cursor.fetchone()[0].split(' on ')[0]}")

    copy_s = copy_baseline(members_path)
    log(f"COPY baseline: {MEMBERS} rows in {copy_s:.2f} s ({MEMBERS / copy_s:,.0f} rows/s)")

    started = time.perf_counter()
    report = members_import(data=members_path.read_bytes(), dry_run=False)
    members_s = time.perf_counter() - started
    log(f"members: {report.summary} in {members_s:.2f} s ({MEMBERS / members_s:,.0f} rows/s)")
    if report.imported != MEMBERS:
        log("\n".join(report.lines()[:10]))
        raise RuntimeError(f"imported {report.imported} members, not {MEMBERS}")

    started = time.perf_counter()
    purchases = purchases_import(data=purchases_path.read_bytes(), dry_run=False)
    lines_s = time.perf_counter() - started
    log(f"purchases: {purchases.summary} in {lines_s:.1f} s ({lines / lines_s:,.0f} lines/s)")
    if purchases.lines_imported != lines:
        log("\n".join(purchases.lines()[:10]))
        raise RuntimeError(f"imported {purchases.lines_imported} lines, not {lines}")
    log(
        f"rows: {Member.objects.count()} members, {Purchase.objects.count()} purchases, "
        f"{PurchaseLine.objects.count()} lines"
    )
    _queue_drop()
    log(f"load average {os.getloadavg()[0]:.1f} after (other processes share these CPUs)")
    log(
        f"members={MEMBERS} members_s={members_s:.1f} import_ratio={copy_s / members_s:.4f} "
        f"lines_s={lines_s:.1f}"
    )
    return 0


def _queue_drop() -> None:
    """The duplicate checks the import queued (no worker ran them)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.delete("celery")
    client.close()


if __name__ == "__main__":
    sys.exit(main())
