"""Benchmark: a campaign to 100 000 members through a real Celery worker, against a raw
baseline.

    python -m bench.fanout            (make bench-fanout)

1. Creates a fresh benchmark database (``BENCH_FANOUT_DATABASE_URL``), migrates it and seeds
   ``BENCH_FANOUT_MEMBERS`` members with consent to email offers, in two SQL statements.
2. Starts a Celery worker (``BENCH_FANOUT_CONCURRENCY`` prefork processes) on Redis
   (``BENCH_FANOUT_REDIS_URL``).
3. Launches a campaign to every member on the no-op channel: fan-out chunks insert the
   delivery rows, send batches claim them, check consent and the contact budget, render the
   message in each member's language and mark them sent. ``fanout_s`` is the wall time from
   launch until the campaign is done (every delivery final).
4. Baseline, same run: one ``INSERT ... SELECT`` creating the same delivery rows for a second
   campaign. ``rows_ratio`` is the fan-out's row-creation rate (rows / time from launch until
   the last chunk's rows were committed) divided by the baseline's rate.

The last line is exactly ``fanout_s=<seconds for 100k> rows_ratio=<fan-out/baseline>``.
Results: docs/benchmarks.md ("Fan-out").
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get(
    "BENCH_FANOUT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kundklubb_bench_fanout"
)
REDIS_URL = os.environ.get("BENCH_FANOUT_REDIS_URL", "redis://127.0.0.1:6379/14")
MEMBERS = int(os.environ.get("BENCH_FANOUT_MEMBERS", "100000"))
CONCURRENCY = int(os.environ.get("BENCH_FANOUT_CONCURRENCY", str(os.cpu_count() or 2)))
TIMEOUT = float(os.environ.get("BENCH_FANOUT_TIMEOUT", "600"))


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
            "CACHE_KEY_PREFIX": "bench-fanout",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def seed_members(cursor: Any, *, count: int, prefix: str = "B", consent_every: int = 1) -> None:
    """``count`` members in one statement (every third in English), and consent to email
    offers for every ``consent_every``-th of them (append-only events plus their state) in
    two more. ``cursor`` is any DB-API cursor on the PostgreSQL database."""
    cursor.execute(
        "INSERT INTO members_member (membership_number, first_name, last_name, phone, "
        "preferred_language, joined_at, join_channel, card_token) "
        "SELECT %s || lpad(g::text, 9, '0'), 'Test' || g, 'Bench', '', "
        "CASE WHEN g %% 3 = 0 THEN 'en' ELSE 'sv' END, now(), 'import', %s || g "
        "FROM generate_series(1, %s) AS g",
        [prefix, f"bench-{prefix}-", count],
    )
    cursor.execute(
        "INSERT INTO consent_consentevent (channel, granted, source, created_at, member_id, "
        "policy_version_id, purpose_id) "
        "SELECT p.channel, true, 'import', now(), m.id, "
        "(SELECT id FROM consent_policyversion ORDER BY effective_at DESC LIMIT 1), p.id "
        "FROM members_member m, consent_purpose p "
        "WHERE p.code = 'marketing_email' AND m.membership_number LIKE %s "
        "AND m.id %% %s = 0",
        [prefix + "%", consent_every],
    )
    cursor.execute(
        "INSERT INTO consent_consentstate (member_id, purpose_id, channel, granted, event_id, "
        "changed_at) SELECT e.member_id, e.purpose_id, e.channel, true, e.id, e.created_at "
        "FROM consent_consentevent e JOIN members_member m ON m.id = e.member_id "
        "WHERE e.source = 'import' AND m.membership_number LIKE %s "
        "ON CONFLICT (member_id, purpose_id, channel) DO NOTHING",
        [prefix + "%"],
    )


def worker_name() -> str:
    return f"fanout-{os.getpid()}-{time.monotonic_ns()}@{platform.node()}"


def worker_start(
    env: dict[str, str],
    concurrency: int,
    log_path: Path | None = None,
    name: str = "",
    extra: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """A Celery worker in its own process group (so it can be killed as a whole).

    ``extra`` is appended to the worker's arguments (``-Q``, ``--max-tasks-per-child``)."""
    log_file = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "config",
            "worker",
            "-P",
            "prefork",
            "-c",
            str(concurrency),
            "-l",
            os.environ.get("BENCH_FANOUT_WORKER_LOG_LEVEL", "WARNING"),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            name or worker_name(),
            *extra,
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log_file,
        stderr=log_file,
    )


def worker_stop(worker: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if worker.poll() is None:
        try:
            os.killpg(worker.pid, sig)
        except ProcessLookupError:
            return
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def worker_wait_ready(app: Any, name: str | None = None, timeout: float = 60) -> None:
    """Wait until the worker ``name`` (any worker when None) answers a ping."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.control.ping(destination=[name] if name else None, timeout=0.5):
            return
    raise RuntimeError("the Celery worker did not start")


def campaign_make(name: str, channel: str = "noop") -> Any:
    """A draft campaign to every member on ``channel``, one variant in both languages
    (Django must be set up)."""
    from campaigns.authoring import campaign_save, variant_save

    campaign = campaign_save(name=name, segment=None, channels=[channel], holdout_percent=0)
    variant_save(
        campaign=campaign,
        code="A",
        weight=100,
        email_subject_sv="Hej {{ first_name }}, veckans erbjudande",
        email_subject_en="Hi {{ first_name }}, this week's offer",
        email_text_sv="Hej {{ first_name }}! Dubbla poäng på skor hela veckan.",
        email_text_en="Hi {{ first_name }}! Double points on shoes all week.",
    )
    return campaign


def database_prepare(env: dict[str, str]) -> None:
    """A new benchmark database, migrated, and Django set up in this process against it."""
    database_recreate()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    import django

    django.setup()


def database_recreate() -> None:
    url = DATABASE_URL.replace("postgres://", "postgresql://", 1)
    name = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
    with psycopg.connect(
        psycopg.conninfo.make_conninfo(url, dbname="postgres"), autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    env = django_env()
    os.environ.update(env)
    log(
        f"fan-out benchmark: {MEMBERS} members, {CONCURRENCY} worker processes, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    database_prepare(env)
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from campaigns.authoring import campaign_launch
    from campaigns.models import Campaign, Delivery, FanoutChunk
    from campaigns.sending import audience
    from config.celery import app
    from members.models import Member

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        seed_members(cursor, count=MEMBERS)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    log(f"seeded {MEMBERS} members with consent in {time.perf_counter() - started:.1f} s")

    campaign = campaign_make("Fan-out benchmark")
    baseline_campaign = campaign_make("Baseline")
    app.control.purge()
    log_path = ROOT / "var" / "bench-fanout-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    log_path.unlink(missing_ok=True)
    name = worker_name()
    worker = worker_start(env, CONCURRENCY, log_path, name)
    try:
        worker_wait_ready(app, name)
        launched_at = timezone.now()
        t0 = time.perf_counter()
        campaign_launch(campaign=campaign, actor=None)
        deadline = t0 + TIMEOUT
        while True:
            status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True)[0]
            if status == Campaign.Status.DONE:
                break
            if time.perf_counter() > deadline:
                raise RuntimeError("the campaign did not finish in time")
            time.sleep(0.1)
        fanout_s = time.perf_counter() - t0
    finally:
        worker_stop(worker)
    last_chunk = FanoutChunk.objects.filter(campaign=campaign).order_by("-done_at")[0].done_at
    assert last_chunk is not None
    rows_s = (last_chunk - launched_at).total_seconds()
    counts = dict(
        Delivery.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=__import__("django.db.models", fromlist=["Count"]).Count("pk"))
        .values_list("status", "n")
    )
    rows = sum(counts.values())

    # Baseline: the same rows, one INSERT ... SELECT, no Celery, no checks.
    t1 = time.perf_counter()
    with transaction.atomic():
        inserted = audience.insert_deliveries(
            campaign=baseline_campaign,
            members=Member.objects.all(),
            variants=list(baseline_campaign.variants.all()),
            channel="noop",
            occurrence="",
            now=timezone.now(),
        )
    baseline_s = time.perf_counter() - t1
    Delivery.objects.filter(campaign=baseline_campaign).delete()

    ratio = (rows / rows_s) / (inserted / baseline_s) if rows_s > 0 and baseline_s > 0 else 0.0
    log(f"deliveries: {counts}")
    log(f"fan-out: {rows} deliveries in {fanout_s:.2f} s = {rows / fanout_s:.0f} deliveries/s")
    log(
        f"delivery rows created in {rows_s:.2f} s = {rows / rows_s:.0f} rows/s "
        f"(chunks of {settings.CAMPAIGNS_FANOUT_CHUNK}, send batches of "
        f"{settings.CAMPAIGNS_SEND_BATCH})"
    )
    log(
        f"baseline: one INSERT ... SELECT of {inserted} rows in {baseline_s:.2f} s = "
        f"{inserted / baseline_s:.0f} rows/s"
    )
    log(f"fanout_s={fanout_s:.2f} rows_ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
