"""PostgreSQL backends terminated under load: no partial write, every retry converges.

A real gunicorn (production settings: persistent connections with health checks, prepared
statements, gthread workers) serves this test's own database. Client threads send 1,000
till requests over HTTP: purchases with unique receipt ids, returns of some of them,
voucher redemptions, one-step point redemptions and reservations with their captures,
each with its receipt, return id or idempotency key. Meanwhile a killer thread runs
``pg_terminate_backend`` on a random server backend of this database every 100 ms. A
client retries a request that got a 5xx or no answer with the identical body until it gets
a final answer (bounded). Then, with the killer stopped: every request took effect exactly
once (rows, ledger entries per key, balances computed from the answers), a replay of each
request gets the byte-identical answer, and the ledger invariants hold.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from members.activity import PENDING_KEY
from members.activity import Kind as ActivityKind
from members.models import ActivityEvent
from rewards.loyalty.catalogue import reward_claim
from rewards.models import (
    IdempotencyRecord,
    LedgerEntry,
    PointBalance,
    Purchase,
    Reservation,
    Return,
    Voucher,
)
from tests import factories
from tests.factories import rewards as rf
from tests.processes import free_port, test_database_url
from tests.rewards.invariants import assert_invariants

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = 30
START_POINTS = 100_000
VOUCHER_COST = 10
# 1,000 requests: 300 purchases, 100 purchases each followed by a return (200), 150
# voucher redemptions, 150 point redemptions, 100 reservations each followed by a capture.
PURCHASES, RETURNS, VOUCHERS, REDEEMS, RESERVATIONS = 300, 100, 150, 150, 100
CLIENTS = 8
KILL_EVERY = 0.1
MAX_ATTEMPTS = 40
WORKERS, THREADS = (os.cpu_count() or 1) + 1, 3  # docs/deploy.md: cores + 1, 3 threads
SKUS = [(f"PGF-{n}", ["skor", "klader", "sport"][n % 3]) for n in range(12)]
KILL_SQL = """
SELECT pid, state, pg_terminate_backend(pid) FROM (
    SELECT pid, state FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s
        AND backend_type = 'client backend'
    ORDER BY random() LIMIT 1
) AS victim
"""


# --- the server ------------------------------------------------------------------------------


def _server_start(port: int, log: Any) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": "pg-fault-" + secrets.token_hex(24),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CACHE_KEY_PREFIX": f"pgf-{secrets.token_hex(4)}",
            "EMAIL_URL": "consolemail://",
            "API_RATE_LIMIT": "100000000/min",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    gunicorn = ROOT / ".venv/bin/gunicorn"
    cmd = [
        str(gunicorn) if gunicorn.exists() else "gunicorn",
        "config.wsgi:application",
        *("--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS)),
        *("--worker-class", "gthread", "--threads", str(THREADS)),
        *("--log-level", "warning", "--backlog", "512"),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited at start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    _server_stop(proc)
    raise RuntimeError("gunicorn did not start")


def _server_stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- the clients -----------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    replayed: bool


@dataclass
class Op:
    """One till request: sent until it gets a final answer, always with the same body."""

    kind: str
    path: str
    body: dict[str, Any]
    member: int  # the member's pk
    failures: list[str] = field(default_factory=list)  # "500", "conn:<error>", ...
    answer: Answer | None = None

    def json(self) -> dict[str, Any]:
        assert self.answer is not None
        return json.loads(self.answer.body)


class Client:
    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.headers = {
            "Authorization": f"Api-Key {secret}",
            "Content-Type": "application/json",
            "Connection": "close",  # a connection error is then always the server's
        }

    def post(self, path: str, body: dict[str, Any]) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("POST", path, json.dumps(body).encode(), self.headers)
            response = conn.getresponse()
            return Answer(
                response.status,
                response.read(),
                response.getheader("Idempotent-Replayed") == "true",
            )
        finally:
            conn.close()

    def send(self, op: Op) -> Answer:
        """Until a final answer: a 5xx, a 429 or no answer is retried with the same body."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                answer = self.post(op.path, op.body)
            except (OSError, http.client.HTTPException) as exc:
                op.failures.append(f"conn:{type(exc).__name__}")
            else:
                if answer.status < 500 and answer.status != 429:
                    op.answer = answer
                    return answer
                op.failures.append(str(answer.status))
            time.sleep(min(0.02 * (attempt + 1), 0.5))
        raise AssertionError(f"{op.kind} {op.path} never answered: {op.failures}")


# --- the killer ------------------------------------------------------------------------------


@dataclass
class Killer:
    spare_pid: int  # the test's own connection
    kills: Counter[str] = field(default_factory=Counter)  # victim state -> terminations
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        db = connection.settings_dict
        with psycopg.connect(
            host=db.get("HOST") or "127.0.0.1",
            port=int(db.get("PORT") or 5432),
            user=db.get("USER") or "postgres",
            password=db.get("PASSWORD") or None,
            dbname=db["NAME"],
            autocommit=True,
        ) as conn:
            while not self.stop.wait(KILL_EVERY):
                try:
                    for _pid, state, killed in conn.execute(KILL_SQL, [self.spare_pid]):
                        if killed:
                            self.kills[state or "?"] += 1
                except psycopg.Error as exc:  # pragma: no cover - reported, fails the test
                    self.errors.append(repr(exc))


# --- the test --------------------------------------------------------------------------------


def _purchase_body(rng: random.Random, receipt: str, number: str, *, dated: bool) -> dict:
    lines: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 3)):
        sku, category = rng.choice(SKUS)
        lines.append(
            {
                "sku": sku,
                "category": category,
                "quantity": rng.randint(1, 3),
                "unit_price_ore": rng.randint(1000, 50000),
            }
        )
    body: dict[str, Any] = {
        "receipt_id": receipt,
        "member": {"membership_number": number},
        "total_ore": sum(line["quantity"] * line["unit_price_ore"] for line in lines),
        "lines": lines,
    }
    if dated:  # the other half leave the time to the club (a replay matches it)
        body["purchased_at"] = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    return body


def test_pg_backends_terminated_every_100ms_no_partial_write_retries_converge():
    started = time.monotonic()
    # given a store, a till's key, 30 members with points and 150 vouchers to redeem
    rf.base_rule()
    store = factories.store(code="pg-fault")
    _key, secret = factories.api_key_with_secret(
        store_obj=store,
        scopes=["purchases:write", "points:write", "vouchers:write"],
        name="Kassa PG",
    )
    members = [factories.member_with_user() for _ in range(MEMBERS)]
    number = {m.pk: m.membership_number for m in members}
    for member in members:
        rf.earned(member, START_POINTS)
    reward = rf.reward(code="pgf-10", points_cost=VOUCHER_COST)
    rng = random.Random(12)
    vouchers = [
        reward_claim(member=rng.choice(members), reward=reward, idempotency_key=f"pgf-claim-{n}")
        for n in range(VOUCHERS)
    ]

    # the first wave: requests that stand alone; the second: a return after its purchase,
    # a capture after its reservation (sent by the same client once the first is final)
    first: list[Op] = []
    for n in range(PURCHASES + RETURNS):
        member = rng.choice(members)
        body = _purchase_body(rng, f"PGF-{n:04d}", number[member.pk], dated=n % 2 == 0)
        first.append(Op("purchase", "/api/v1/purchases/", body, member.pk))
    for n, voucher in enumerate(vouchers):
        body = {"code": voucher.code, "idempotency_key": f"pgf-v-{n}", "reference": f"B{n}"}
        first.append(Op("voucher", "/api/v1/vouchers/redeem/", body, voucher.member_id))
    for n in range(REDEEMS):
        member = rng.choice(members)
        body = {
            "member": {"membership_number": number[member.pk]},
            "points": rng.randint(1, 50),
            "idempotency_key": f"pgf-r-{n}",
        }
        first.append(Op("redeem", "/api/v1/points/redeem/", body, member.pk))
    for n in range(RESERVATIONS):
        member = rng.choice(members)
        body = {
            "member": {"membership_number": number[member.pk]},
            "points": rng.randint(20, 80),
            "idempotency_key": f"pgf-res-{n}",
            "reference": f"order-{n}",
        }
        first.append(Op("reserve", "/api/v1/points/reservations/", body, member.pk))
    rng.shuffle(first)
    returning = {op.body["receipt_id"] for op in first if op.kind == "purchase"}
    returning = set(sorted(returning)[:RETURNS])
    second: list[Op] = []
    second_lock = threading.Lock()

    def follow_up(op: Op, n: int) -> Op | None:
        if op.kind == "purchase" and op.body["receipt_id"] in returning:
            receipt = op.body["receipt_id"]
            body: dict[str, Any] = {"return_id": f"RET-{receipt}"}
            if n % 2:  # one item of the first line; the others return everything
                body["lines"] = [{"line_no": 1, "quantity": 1}]
            return Op("return", f"/api/v1/purchases/{receipt}/returns/", body, op.member)
        if op.kind == "reserve":
            reserved = op.json()
            body = {
                "points": max(1, op.body["points"] - n % 15),  # the rest is released
                "idempotency_key": f"pgf-cap-{reserved['reservation_id']}",
            }
            path = f"/api/v1/points/reservations/{reserved['reservation_id']}/capture/"
            return Op("capture", path, body, op.member)
        return None

    log = tempfile.NamedTemporaryFile(prefix="kk-pgfault-gunicorn-", suffix=".log")  # noqa: SIM115
    port = free_port()
    client = Client(port, secret)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
    assert row is not None
    killer = Killer(spare_pid=row[0])
    killer_thread = threading.Thread(target=killer.run, name="pg-killer")
    errors: list[BaseException] = []
    ops: list[Op] = []
    server = _server_start(port, log)
    try:
        # the server answers before the faults start
        assert client.post("/api/v1/points/redeem/", {}).status == 400
        setup_seconds = time.monotonic() - started

        def work(offset: int) -> None:
            try:
                for n in range(offset, len(first), CLIENTS):
                    op = first[n]
                    client.send(op)
                    if op.answer is not None and op.answer.status < 300:
                        nxt = follow_up(op, n)
                        if nxt is not None:
                            client.send(nxt)
                            with second_lock:
                                second.append(nxt)
            except BaseException as exc:
                errors.append(exc)

        # when the requests are sent while a backend is terminated every 100 ms
        run_started = time.monotonic()
        killer_thread.start()
        pool = [threading.Thread(target=work, args=(n,)) for n in range(CLIENTS)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout=300)
        killer.stop.set()
        killer_thread.join(timeout=10)
        run_seconds = time.monotonic() - run_started
        if errors:
            raise errors[0]
        ops.extend(first + second)

        # then the faults were real: backends were terminated, requests failed and retried
        kills = sum(killer.kills.values())
        failures = Counter(f for op in ops for f in op.failures)
        failed_ops = sum(1 for op in ops if op.failures)
        assert not killer.errors, killer.errors
        assert kills >= 5, killer.kills
        assert failures, "no request saw a fault: the test proves nothing"

        # every request got a final, successful answer, at the first try or a retry
        refused = [(op.kind, op.body, op.failures, op.answer) for op in ops if not _ok(op)]
        assert not refused, refused[:5]
        assert len(ops) == PURCHASES + 2 * RETURNS + VOUCHERS + REDEEMS + 2 * RESERVATIONS

        # a replay of every request now gets the byte-identical answer
        replay_started = time.monotonic()
        for op in ops:
            assert op.answer is not None
            again = client.post(op.path, op.body)
            assert (again.status, again.body) == (op.answer.status, op.answer.body), (
                op.kind,
                op.body,
                op.answer,
                again,
            )
            if op.kind in ("purchase", "return"):
                assert again.replayed
        replay_seconds = time.monotonic() - replay_started
    finally:
        killer.stop.set()
        if killer_thread.is_alive():
            killer_thread.join(timeout=10)
        _server_stop(server)
        _broker_clean()
    log.seek(0)
    server_log = log.read().decode(errors="replace")
    log.close()
    by_kind = {kind: [op for op in ops if op.kind == kind] for kind in {op.kind for op in ops}}

    # exactly one effect per request: purchases and their earn entries, one per receipt
    purchases = {p.receipt_id: p for p in Purchase.objects.filter(store=store)}
    assert len(purchases) == PURCHASES + RETURNS
    for op in by_kind["purchase"]:
        assert purchases[op.body["receipt_id"]].pk == op.json()["purchase_id"]
    earns = LedgerEntry.objects.filter(kind="earn", cause="purchase", purchase__store=store)
    assert earns.count() == sum(1 for op in by_kind["purchase"] if op.json()["points"]["earned"])
    assert (
        ActivityEvent.objects.filter(kind=ActivityKind.PURCHASED, store=store).count()
        == PURCHASES + RETURNS
    )
    # returns: one per return id, one reversing entry each
    returns = {r.return_id: r for r in Return.objects.filter(store=store)}
    assert len(returns) == RETURNS
    for op in by_kind["return"]:
        assert returns[op.body["return_id"]].points_reversed == op.json()["points_reversed"]
    assert LedgerEntry.objects.filter(kind="reverse").count() == sum(
        1 for op in by_kind["return"] if op.json()["points_reversed"]
    )
    # vouchers: each used once, with the key that used it, one "used" event each
    used = Voucher.objects.filter(reward=reward, status=Voucher.Status.USED)
    assert used.count() == VOUCHERS
    keys = {
        op.body["code"]: f"s{store.pk}:{op.body['idempotency_key']}" for op in by_kind["voucher"]
    }
    assert {v.code: v.redeem_key for v in used} == keys
    assert not used.exclude(used_store=store).exists()
    events = ActivityEvent.objects.filter(kind=ActivityKind.VOUCHER_USED)
    assert events.count() == VOUCHERS
    assert not events.values("data__voucher_id").annotate(n=Count("pk")).filter(n__gt=1).exists()
    # point redemptions: one ledger entry and one stored answer per idempotency key
    redeem_keys = {f"redeem:s{store.pk}:{op.body['idempotency_key']}" for op in by_kind["redeem"]}
    entries = LedgerEntry.objects.filter(kind="redeem", cause="reward", store=store)
    assert set(entries.values_list("idempotency_key", flat=True)) == redeem_keys
    assert IdempotencyRecord.objects.filter(key__startswith=f"s{store.pk}:pgf-").count() == (
        REDEEMS + 2 * RESERVATIONS
    )
    # reservations: one per key, each captured once with what its capture asked for
    reservations = {r.pk: r for r in Reservation.objects.all()}
    assert len(reservations) == RESERVATIONS
    for op in by_kind["capture"]:
        reservation_id = int(op.path.split("/")[-3])
        assert reservations[reservation_id].status == Reservation.Status.CAPTURED
        assert reservations[reservation_id].captured == op.body["points"] == op.json()["captured"]

    # every member's balance is what the answers add up to: nothing lost, nothing twice
    pending: Counter[int] = Counter()
    posted: Counter[int] = Counter({m.pk: START_POINTS for m in members})
    for voucher in vouchers:
        posted[voucher.member_id] -= VOUCHER_COST
    for op in by_kind["purchase"]:
        pending[op.member] += op.json()["points"]["earned"]
    for op in by_kind["return"]:
        pending[op.member] -= op.json()["points_reversed"]  # inside the return window
    for op in by_kind["redeem"]:
        posted[op.member] -= op.body["points"]
    for op in by_kind["capture"]:
        posted[op.member] -= op.body["points"]
    for balance in PointBalance.objects.filter(member__in=members):
        assert (balance.pending, balance.posted, balance.reserved) == (
            pending[balance.member_id],
            posted[balance.member_id],
            0,
        ), balance.member_id
    assert_invariants([m.pk for m in members])

    internal_errors = server_log.count("Internal Server Error")
    errors_logged = Counter(
        line.split(":", 1)[0].rsplit(".", 1)[-1]
        for line in server_log.splitlines()
        if line.startswith(("django.db.utils.", "psycopg."))
    )
    print(
        f"requests={len(ops)} kills={kills} ({dict(killer.kills)}) "
        f"failed_requests={failed_ops} failures={sum(failures.values())} ({dict(failures)}) "
        f"max_attempts={max(len(op.failures) for op in ops) + 1} "
        f"committed_before_a_5xx={sum(1 for op in ops if op.failures and _replayed(op))} "
        f"server_500s_logged={internal_errors} ({dict(errors_logged)}) "
        f"setup_s={setup_seconds:.1f} "
        f"run_s={run_seconds:.1f} replay_s={replay_seconds:.1f} "
        f"total_s={time.monotonic() - started:.1f}",
        file=sys.stderr,
    )


def _ok(op: Op) -> bool:
    return op.answer is not None and op.answer.status < 300


def _replayed(op: Op) -> bool:
    return op.answer is not None and op.answer.replayed


def _broker_clean() -> None:
    """The server queued the timeline events' ids (and a drain task) that no worker ran."""
    import redis

    from config.celery import app

    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(PENDING_KEY)
    app.control.purge()
