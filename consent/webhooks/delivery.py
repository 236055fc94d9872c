"""Delivering events to endpoints, at least once (docs/webhooks.md "Delivery").

1. After commit, ``members.outbox`` hands the new event ids to :func:`webhooks_events_committed`,
   which queues :func:`webhooks_fan_out`: one ``WebhookDelivery`` row per subscribed endpoint
   and event (unique, so doing it twice makes nothing twice), then a send per endpoint.
2. :func:`webhooks_send` claims an endpoint's due deliveries (``SELECT … FOR UPDATE SKIP
   LOCKED``, then ``sending`` with a lease), resolves and checks the URL once, posts each
   body signed (Standard Webhooks) to the checked address with a 5 s timeout, and writes the
   attempts, the outcome and, for each delivered body about a member, the share record.
3. A failure is retried after ``WEBHOOKS_RETRY_SCHEDULE`` (5 s, 5 min, 30 min, 2 h, 5 h,
   10 h, 10 h: about 27 h) with ±20 % jitter; then the delivery is given up. After
   ``WEBHOOKS_DISABLE_AFTER`` deliveries given up in a row the endpoint is disabled and the
   administrators get a mail.
4. Beat runs :func:`webhooks_sweep`: events of the last ``WEBHOOKS_SWEEP_WINDOW_HOURS``
   without their deliveries (a lost task, a process killed after commit) are fanned out,
   deliveries whose lease ran out (a killed worker) are waiting again, and every endpoint
   with due deliveries gets a send. A retry can therefore never be lost, only late.

No order is promised: two events of one member can arrive in either order (retries, several
workers). Each body has ``occurred_at`` and the event id; receivers keep the newest.
"""

from __future__ import annotations

import datetime
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from consent.models import ConsentState, PartnerShare, WebhookAttempt, WebhookDelivery
from consent.models import WebhookEndpoint as Endpoint
from consent.webhooks.endpoints import endpoint_scopes, endpoint_secrets
from consent.webhooks.payloads import payload_build
from consent.webhooks.security import WebhookUrlRefusedError, url_pin
from consent.webhooks.signing import signed_headers
from members.enqueue import task_get
from members.models import OutboxEvent, User
from members.outbox import ALL_STORES_SCOPE, EVENT_TYPES, event_types_visible
from members.roles import ADMINISTRATOR

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
FAN_OUT_TASK = "consent.webhooks.tasks.webhooks_fan_out_task"
SEND_TASK = "consent.webhooks.tasks.webhooks_send_task"
RESPONSE_KEEP_BYTES = 1024
USER_AGENT = "Kundklubb-Webhooks/1.0"


# --- fan-out ------------------------------------------------------------------------------------


def _endpoint_types(endpoint: Endpoint) -> tuple[list[str], list[str], int | None]:
    """The endpoint's event types it may get from every store, those only from its own
    store, and that store."""
    scopes, store_id = endpoint_scopes(api_key=endpoint.api_key, store=endpoint.store)
    visible = set(event_types_visible(scopes))
    wanted = [t for t in endpoint.event_types if t in visible]
    if store_id is None or ALL_STORES_SCOPE in scopes:
        return wanted, [], store_id
    anywhere = [t for t in wanted if not EVENT_TYPES[t].store_bound]
    own = [t for t in wanted if EVENT_TYPES[t].store_bound]
    return anywhere, own, store_id


def _fan_out_sql(where: str) -> str:
    delivery = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    outbox = connection.ops.quote_name(OutboxEvent._meta.db_table)
    return f"""
        INSERT INTO {delivery}
            (endpoint_id, event_id, status, attempts, next_attempt_at, created_at, last_error)
        SELECT %s, ev.id, 'pending', 0, now(), now(), ''
        FROM {outbox} ev
        WHERE {where}
          AND (ev.type = ANY(%s::text[]) OR (ev.type = ANY(%s::text[]) AND ev.store_id = %s))
        ON CONFLICT (endpoint_id, event_id) DO NOTHING
        RETURNING id
    """  # noqa: S608 - table names from the models' metadata


def _endpoint_fan_out(endpoint: Endpoint, where: str, params: list[Any]) -> int:
    anywhere, own, store_id = _endpoint_types(endpoint)
    if not anywhere and not own:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_fan_out_sql(where), [endpoint.pk, *params, anywhere, own, store_id])
        return len(cursor.fetchall())


def _active_endpoints() -> list[Endpoint]:
    return list(Endpoint.objects.filter(active=True).select_related("api_key", "store"))


def webhooks_fan_out(*, event_ids: list[int]) -> dict[int, int]:
    """Deliveries for committed events: how many each endpoint got (those with any)."""
    touched = {}
    for endpoint in _active_endpoints():
        created = _endpoint_fan_out(
            endpoint, "ev.id = ANY(%s) AND ev.occurred_at >= %s", [event_ids, endpoint.created_at]
        )
        if created:
            touched[endpoint.pk] = created
    return touched


# The outbox calls its hook once per event, after commit. Queued one task each, a commit of
# 100 events would cost 100 tasks; instead the ids wait in a Redis list and one fan-out task
# is queued while none is pending (the "wake" key): the task deletes the key *before* it
# takes the list, so an id pushed after that queues the next task. Anything lost on the way
# (Redis restarted, a task killed after taking the list) is fanned out by the sweep.
COMMITTED_KEY = "webhooks:committed"
WAKE_KEY = "webhooks:wake"
_redis_client: Any = None


def _redis() -> Any:
    """The broker's Redis, or None when the broker is not Redis (``make run`` without it)."""
    global _redis_client
    url = str(settings.CELERY_BROKER_URL)
    if not url.startswith(("redis://", "rediss://")):
        return None
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(url)
    return _redis_client


def webhooks_events_committed(event_ids: list[int]) -> None:
    """The outbox's after-commit hook (``ConsentConfig.ready``): hand the ids to a fan-out."""
    client = _redis()
    if client is None:
        task_get(FAN_OUT_TASK).delay(list(event_ids))
        return
    try:
        pipe = client.pipeline()
        pipe.rpush(COMMITTED_KEY, *event_ids)
        pipe.set(WAKE_KEY, 1, nx=True, ex=int(settings.WEBHOOKS_SWEEP_SECONDS) * 4)
        _pushed, woke = pipe.execute()
    except Exception:  # the sweep fans these out; never fail the caller's request
        logger.exception("webhooks: could not hand events %s to the fan-out", event_ids)
        return
    if woke:
        task_get(FAN_OUT_TASK).delay([])


def webhooks_committed_take(limit: int = 20000) -> list[int]:
    """The ids the hook left for the fan-out (see above), taken off the list."""
    client = _redis()
    if client is None:
        return []
    client.delete(WAKE_KEY)
    pipe = client.pipeline()  # MULTI: nobody else takes the same ids
    pipe.lrange(COMMITTED_KEY, 0, limit - 1)
    pipe.ltrim(COMMITTED_KEY, limit, -1)
    taken, _trimmed = pipe.execute()
    return [int(i) for i in taken]


# --- sending ------------------------------------------------------------------------------------


@dataclass
class SendResult:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    given_up: int = 0
    skipped: int = 0
    retry_in: float | None = None  # seconds until the earliest short retry, when one is due
    more: bool = False  # a full batch: there may be more due
    events: list[int] = field(default_factory=list)


def retry_delay(attempts: int, rng: random.Random | None = None) -> float | None:
    """Seconds to wait after the ``attempts``-th failed attempt; None when retries ran out."""
    schedule = list(settings.WEBHOOKS_RETRY_SCHEDULE)
    if attempts > len(schedule):
        return None
    base = float(schedule[attempts - 1])
    jitter = float(settings.WEBHOOKS_RETRY_JITTER)
    return base * (1 + (rng or random).uniform(-jitter, jitter))


def _claim(endpoint_id: int, now: datetime.datetime, limit: int) -> list[WebhookDelivery]:
    lease = now + datetime.timedelta(seconds=settings.WEBHOOKS_LEASE_SECONDS)
    with transaction.atomic():
        rows = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                endpoint_id=endpoint_id,
                status=Status.PENDING,
                next_attempt_at__lte=now,
                endpoint__active=True,
            )
            .order_by("next_attempt_at", "id")[:limit]
        )
        if rows:
            WebhookDelivery.objects.filter(pk__in=[r.pk for r in rows]).update(
                status=Status.SENDING, claimed_until=lease
            )
    return rows


_clients: dict[tuple[str, str], httpx.Client] = {}


def _client(pinned_host: str, address: str) -> httpx.Client:
    """One client (connection pool) per host name and checked address in this process, so a
    kept-alive connection is only ever reused for the name it was opened for."""
    key = (pinned_host, address)
    client = _clients.get(key)
    if client is None:
        client = httpx.Client(
            timeout=float(settings.WEBHOOKS_TIMEOUT_SECONDS),
            follow_redirects=False,
            trust_env=False,
        )
        _clients[key] = client
    return client


@dataclass
class _Outcome:
    ok: bool
    status_code: int | None = None
    body: str = ""
    error: str = ""
    duration_ms: int = 0
    transport_failed: bool = False


def _post(client: httpx.Client, pinned: Any, body: bytes, headers: dict[str, str]) -> _Outcome:
    headers = {
        **headers,
        "Host": pinned.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    extensions = {"sni_hostname": pinned.host} if pinned.url.startswith("https:") else {}
    started = time.monotonic()
    try:
        with client.stream(
            "POST", pinned.url, content=body, headers=headers, extensions=extensions
        ) as response:
            kept = b""
            for chunk in response.iter_raw():
                kept += chunk
                if len(kept) >= RESPONSE_KEEP_BYTES:
                    break
            text = kept[:RESPONSE_KEEP_BYTES].decode("utf-8", errors="replace")
            return _Outcome(
                ok=200 <= response.status_code < 300,
                status_code=response.status_code,
                body=text,
                error="" if response.is_success else f"HTTP {response.status_code}",
                duration_ms=int((time.monotonic() - started) * 1000),
            )
    except httpx.HTTPError as exc:
        return _Outcome(
            ok=False,
            error=f"{type(exc).__name__}: {exc}"[:200],
            duration_ms=int((time.monotonic() - started) * 1000),
            transport_failed=True,
        )


def _consenting(endpoint: Endpoint, events: Iterable[OutboxEvent]) -> set[int]:
    member_ids = {e.member_id for e in events if e.member_id is not None}
    if not endpoint.purpose.needs_consent or not member_ids:
        return member_ids
    return set(
        ConsentState.objects.filter(
            member_id__in=member_ids, purpose_id=endpoint.purpose_id, granted=True
        ).values_list("member_id", flat=True)
    )


def webhooks_send(
    *, endpoint_id: int, now: datetime.datetime | None = None, limit: int | None = None
) -> SendResult:
    """Send one batch of an endpoint's due deliveries and record what happened."""
    now = now or timezone.now()
    batch = _claim(endpoint_id, now, limit or settings.WEBHOOKS_BATCH_SIZE)
    result = SendResult(
        claimed=len(batch), more=len(batch) == (limit or settings.WEBHOOKS_BATCH_SIZE)
    )
    if not batch:
        return result
    endpoint = Endpoint.objects.select_related("purpose").get(pk=endpoint_id)
    events = OutboxEvent.objects.select_related("member", "member__user", "store").in_bulk(
        [d.event_id for d in batch]
    )
    consenting = _consenting(endpoint, events.values())
    secrets_ = endpoint_secrets(endpoint, now)
    refused = ""
    pinned = None
    try:
        pinned = url_pin(endpoint.url)
    except WebhookUrlRefusedError as exc:
        refused = exc.message
    attempts: list[WebhookAttempt] = []
    shares: list[PartnerShare] = []
    transport_error = ""
    for delivery in batch:
        event = events.get(delivery.event_id)
        if event is None:  # purged meanwhile (members.outbox.outbox_purge): the row went too
            continue
        if (
            event.member_id is not None
            and event.member_id not in consenting
            and event.type != "member.erased"
        ):
            delivery.status = Status.SKIPPED
            delivery.last_error = _("The member has not agreed to this purpose.")[:200]
            result.skipped += 1
            continue
        member = event.member if event.member_id is not None else None
        body, kinds = payload_build(event, personal=endpoint.personal_data, member=member)
        delivery.attempts += 1
        sent_at = timezone.now()
        if refused or transport_error:
            outcome = _Outcome(
                ok=False,
                error=(refused or _("Not tried: %(error)s") % {"error": transport_error})[:200],
            )
        else:
            assert pinned is not None
            headers = signed_headers(
                msg_id=event.webhook_id, body=body, secrets_=secrets_, now=sent_at
            )
            outcome = _post(_client(pinned.host, pinned.address), pinned, body, headers)
            if outcome.transport_failed:
                transport_error = outcome.error
        attempts.append(
            WebhookAttempt(
                delivery=delivery,
                number=delivery.attempts,
                started_at=sent_at,
                duration_ms=outcome.duration_ms,
                status_code=outcome.status_code,
                ok=outcome.ok,
                error=outcome.error,
                response_body=outcome.body,
            )
        )
        delivered = _outcome_apply(delivery, outcome, result)
        if delivered and member is not None and kinds:
            shares.append(_share(endpoint, event, delivery, kinds))
    with transaction.atomic():
        WebhookAttempt.objects.bulk_create(attempts)
        _outcomes_write(batch)
        PartnerShare.objects.bulk_create(shares)
        _endpoint_health(endpoint, batch)
    return result


def _outcome_apply(delivery: WebhookDelivery, outcome: _Outcome, result: SendResult) -> bool:
    """Set the delivery's state from one attempt's outcome; True when delivered."""
    if outcome.ok:
        delivery.status = Status.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.last_error = ""
        result.delivered += 1
        result.events.append(delivery.event_id)
        return True
    delivery.last_error = outcome.error[:200]
    delay = retry_delay(delivery.attempts)
    if delay is None:
        delivery.status = Status.FAILED
        result.given_up += 1
    else:
        delivery.status = Status.PENDING
        delivery.next_attempt_at = timezone.now() + datetime.timedelta(seconds=delay)
        result.failed += 1
        if result.retry_in is None or delay < result.retry_in:
            result.retry_in = delay
    return False


def _share(
    endpoint: Endpoint, event: OutboxEvent, delivery: WebhookDelivery, kinds: list[str]
) -> PartnerShare:
    """The share record of a delivered body about a member."""
    assert event.member_id is not None
    return PartnerShare(
        member_id=event.member_id,
        purpose_id=endpoint.purpose_id,
        data_categories=sorted(set(kinds)),
        shared_at=delivery.delivered_at or timezone.now(),
        recipient=endpoint.recipient[:100],
        event_type=event.type,
        reason_sv=endpoint.reason_sv,
        reason_en=endpoint.reason_en,
        endpoint_id=endpoint.pk,
    )


def _outcomes_write(batch: list[WebhookDelivery]) -> None:
    """Every delivery's new state in one statement (``bulk_update``'s CASE per field and row
    cost more than the requests themselves)."""
    table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS d SET status = v.status, attempts = v.attempts,
                next_attempt_at = v.next_attempt_at, claimed_until = NULL,
                delivered_at = v.delivered_at, last_error = v.last_error
            FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::timestamptz[],
                        %s::timestamptz[], %s::text[])
                AS v(id, status, attempts, next_attempt_at, delivered_at, last_error)
            WHERE d.id = v.id
            """,  # noqa: S608 - the table name from the model's metadata
            [
                [d.pk for d in batch],
                [str(d.status) for d in batch],
                [d.attempts for d in batch],
                [d.next_attempt_at for d in batch],
                [d.delivered_at for d in batch],
                [d.last_error for d in batch],
            ],
        )


def _endpoint_health(endpoint: Endpoint, batch: list[WebhookDelivery]) -> None:
    """Count deliveries given up in a row; disable the endpoint at WEBHOOKS_DISABLE_AFTER."""
    outcomes = [d.status for d in batch if d.status in (Status.DELIVERED, Status.FAILED)]
    if not outcomes:
        return
    if Status.DELIVERED in outcomes:
        last = len(outcomes) - 1 - outcomes[::-1].index(Status.DELIVERED)
        trailing = len(outcomes) - 1 - last
        Endpoint.objects.filter(pk=endpoint.pk).exclude(failures_in_row=trailing).update(
            failures_in_row=trailing
        )
        return
    Endpoint.objects.filter(pk=endpoint.pk).update(
        failures_in_row=F("failures_in_row") + len(outcomes)
    )
    disabled = Endpoint.objects.filter(
        pk=endpoint.pk, active=True, failures_in_row__gte=settings.WEBHOOKS_DISABLE_AFTER
    ).update(
        active=False,
        disabled_at=timezone.now(),
        disabled_reason=_("%(count)s deliveries in a row failed every retry.")
        % {"count": settings.WEBHOOKS_DISABLE_AFTER},
    )
    if disabled:
        transaction.on_commit(lambda: _mail_administrators(endpoint))


def _mail_administrators(endpoint: Endpoint) -> None:
    admins = Group.objects.filter(name=ADMINISTRATOR)
    emails = sorted(
        set(
            User.objects.filter(Q(is_superuser=True) | Q(groups__in=admins), is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not emails:
        return
    send_mail(
        subject=_("Webhook endpoint disabled: %(name)s") % {"name": str(endpoint)},
        message=_(
            "The webhook endpoint %(url)s (%(name)s) failed %(count)s deliveries in a row, "
            "every retry included, and has been disabled. Nothing more is sent to it.\n\n"
            "When the receiver works again, enable the endpoint in the back-office and use "
            "“Replay everything since” for the time it was down."
        )
        % {"url": endpoint.url, "name": str(endpoint), "count": settings.WEBHOOKS_DISABLE_AFTER},
        from_email=None,
        recipient_list=emails,
    )


# --- the sweeper and the back-office's actions --------------------------------------------------


def webhooks_sweep(*, now: datetime.datetime | None = None) -> dict[str, Any]:
    """Fan out what a lost task missed, free deliveries of killed workers, and name every
    endpoint with due deliveries (the task queues a send for each)."""
    now = now or timezone.now()
    since = now - datetime.timedelta(hours=settings.WEBHOOKS_SWEEP_WINDOW_HOURS)
    fanned = 0
    for endpoint in _active_endpoints():
        fanned += _endpoint_fan_out(
            endpoint, "ev.occurred_at >= %s", [max(since, endpoint.created_at)]
        )
    freed = WebhookDelivery.objects.filter(status=Status.SENDING, claimed_until__lt=now).update(
        status=Status.PENDING, claimed_until=None, next_attempt_at=now
    )
    due = sorted(
        set(
            WebhookDelivery.objects.filter(
                status=Status.PENDING, next_attempt_at__lte=now, endpoint__active=True
            ).values_list("endpoint_id", flat=True)
        )
    )
    return {"fanned_out": fanned, "freed": freed, "endpoints": due}


def webhook_deliveries_resend(*, delivery_ids: list[int]) -> int:
    """Send the chosen deliveries again now, whatever their state (not while one is being
    sent). The body and ``webhook-id`` are the same as before."""
    count = (
        WebhookDelivery.objects.filter(pk__in=delivery_ids)
        .exclude(status=Status.SENDING)
        .update(status=Status.PENDING, attempts=0, next_attempt_at=timezone.now(), last_error="")
    )
    endpoints = set(
        WebhookDelivery.objects.filter(pk__in=delivery_ids).values_list("endpoint_id", flat=True)
    )
    transaction.on_commit(lambda: sends_queue(sorted(endpoints)))
    return count


def webhook_endpoint_replay(*, endpoint: Endpoint, since: datetime.datetime) -> int:
    """Every event since ``since`` the endpoint subscribes to, sent (again) now."""
    anywhere, own, store_id = _endpoint_types(endpoint)
    delivery = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    outbox = connection.ops.quote_name(OutboxEvent._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {delivery}
                (endpoint_id, event_id, status, attempts, next_attempt_at, created_at, last_error)
            SELECT %s, ev.id, 'pending', 0, now(), now(), ''
            FROM {outbox} ev
            WHERE ev.occurred_at >= %s
              AND (ev.type = ANY(%s::text[])
                   OR (ev.type = ANY(%s::text[]) AND ev.store_id = %s))
            ON CONFLICT (endpoint_id, event_id) DO UPDATE
                SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = ''
                WHERE {delivery}.status <> 'sending'
            RETURNING id
            """,  # noqa: S608 - table names from the models' metadata
            [endpoint.pk, since, anywhere, own, store_id],
        )
        count = len(cursor.fetchall())
        transaction.on_commit(lambda: sends_queue([endpoint.pk]))
    return count


def sends_queue(endpoint_ids: Iterable[int], countdown: float | None = None) -> None:
    task = task_get(SEND_TASK)
    for endpoint_id in endpoint_ids:
        if countdown:
            task.apply_async((endpoint_id,), countdown=countdown)
        else:
            task.delay(endpoint_id)
