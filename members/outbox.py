"""The transactional outbox of public events (docs/webhooks.md).

A service that changes something an integration may want to know about writes one
``OutboxEvent`` row with :func:`outbox_emit`, inside the transaction of the change: a
rolled-back change leaves no event, a committed change always has its event. Most events
come through the member timeline: ``members.activity.activity_record`` emits the public
event of the timeline kinds in ``TIMELINE_EVENTS``. Events without a timeline entry (a
purchase or return without a member, a ledger entry, a finished campaign) are emitted by
their service directly; the till's purchase statement (``rewards.purchases.till_sql``)
inserts its rows in its own SQL and hands them over with :func:`outbox_emitted`.

After commit, the ids of the new rows go to every hook registered with
:func:`outbox_on_commit_register` (the webhook dispatcher registers there from its
``AppConfig.ready``). The pull feed (``GET /api/v1/events/``) reads the same rows in the
order of :func:`outbox_sequence`'s positions.

Members is the lowest app: every app may import this module; it imports no higher app.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from members.activity_kinds import Kind
from members.models import Member, OutboxEvent, Store
from members.rows import RowInserter

logger = logging.getLogger(__name__)

# --- the catalogue ------------------------------------------------------------------------------

# The scope an integration key needs for the pull feed at all (members.api.scopes.SCOPES).
FEED_SCOPE = "events:read"
# With this scope a key also sees the store-bound events (purchases, returns, check-ins,
# voucher redemptions) of every store, not only of its own store: a data warehouse.
ALL_STORES_SCOPE = "events:all_stores"


@dataclass(frozen=True)
class EventType:
    """One public event type: what it means, who may see it, and an example ``data``."""

    name: str
    description: Promise
    scope: str  # the scope (besides events:read) a key needs to see events of this type
    store_bound: bool  # happened at a store: keys of other stores do not see it
    example: dict[str, Any] = field(default_factory=dict)
    member_bound: bool = True  # is about one member (data carries member_id)


_TYPES = [
    EventType(
        "member.joined",
        _("A member joined the club (on the web, in a store, in the web shop)."),
        "members:read",
        False,
        {"channel": "store"},
    ),
    EventType(
        "member.updated",
        _("A member changed their profile; the names of the changed fields, never the values."),
        "members:read",
        False,
        {"fields": ["phone", "postcode"]},
    ),
    EventType(
        "member.merged",
        _("Two memberships of one person were merged; the merged one now resolves to this one."),
        "members:read",
        False,
        {"merge_id": 17, "merged_member_id": 4711},
    ),
    EventType(
        "member.erased",
        _("A member was erased: delete everything you hold about this member id."),
        "members:read",
        False,
        {},
    ),
    EventType(
        "purchase.recorded",
        _("A purchase was recorded at a till or in the web shop (with or without a member)."),
        "purchases:read",
        True,
        {
            "purchase_id": 90210,
            "receipt_id": "K1-2026-000123",
            "total_ore": 129800,
            "points_earned": 1298,
            "purchased_at": "2026-12-04T14:05:00+01:00",
        },
    ),
    EventType(
        "purchase.returned",
        _("Goods of a purchase were returned; the points taken back."),
        "purchases:read",
        True,
        {"purchase_id": 90210, "return_id": 5521, "points_reversed": 299},
    ),
    EventType(
        "points.changed",
        _("A member's points changed (earned, matured, spent, reserved, expired, adjusted)."),
        "points:read",
        False,
        {
            "entry_id": 777001,
            "kind": "earn",
            "cause": "purchase",
            "points": 1298,
            "delta_pending": 1298,
            "delta_posted": 0,
            "delta_reserved": 0,
            "purchase_id": 90210,
        },
    ),
    EventType(
        "tier.changed",
        _("A member moved to another tier."),
        "members:read",
        False,
        {"from_tier": "silver", "to_tier": "gold", "reason": "purchase", "change_id": 311},
    ),
    EventType(
        "voucher.issued",
        _("A member got a voucher (a reward claimed with points, a gift)."),
        "vouchers:read",
        False,
        {"voucher_id": 8812, "reward_id": 12, "points": 500, "kind": "voucher"},
    ),
    EventType(
        "voucher.redeemed",
        _("A voucher was used."),
        "vouchers:read",
        True,
        {"voucher_id": 8812, "reward_id": 12},
    ),
    EventType(
        "consent.changed",
        _("A member gave or withdrew a consent."),
        "members:read",
        False,
        {"purpose": "marketing_email", "channel": "email", "granted": False},
    ),
    EventType(
        "checkin.recorded",
        _("A member checked in at a store's door."),
        "members:read",
        True,
        {"checkin_id": 4410},
    ),
    EventType(
        "campaign.completed",
        _("A campaign finished sending; counts only."),
        FEED_SCOPE,
        False,
        {
            "campaign_id": 42,
            "recurring": False,
            "deliveries": {"control": 950, "failed": 12, "sent": 18230, "suppressed": 310},
        },
        member_bound=False,
    ),
]
EVENT_TYPES: dict[str, EventType] = {t.name: t for t in _TYPES}


# --- the timeline's public events ---------------------------------------------------------------


def _pick(*keys: str, rename: dict[str, str] | None = None) -> Callable[[dict[str, Any]], dict]:
    names = rename or {}
    return lambda data: {names.get(k, k): data.get(k) for k in keys}


# timeline kind -> (public type, the public data from the timeline event's data)
TIMELINE_EVENTS: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    Kind.JOINED: ("member.joined", _pick("channel")),
    Kind.PROFILE_UPDATED: ("member.updated", _pick("fields")),
    Kind.LANGUAGE_CHANGED: ("member.updated", lambda data: {"fields": ["preferred_language"]}),
    Kind.MERGED: (
        "member.merged",
        _pick(
            "merge",
            "merged_member",
            rename={"merge": "merge_id", "merged_member": "merged_member_id"},
        ),
    ),
    Kind.ERASED: ("member.erased", lambda data: {}),
    Kind.RETURNED: ("purchase.returned", lambda data: {}),  # emitted by the return service
    Kind.TIER_CHANGED: (
        "tier.changed",
        _pick(
            "from_code",
            "to_code",
            "reason",
            "change_id",
            rename={"from_code": "from_tier", "to_code": "to_tier"},
        ),
    ),
    Kind.REWARD_CLAIMED: ("voucher.issued", _pick("voucher_id", "reward_id", "points", "kind")),
    Kind.VOUCHER_USED: ("voucher.redeemed", _pick("voucher_id", "reward_id")),
    Kind.CONSENT_GRANTED: (
        "consent.changed",
        lambda data: {
            "purpose": data.get("purpose"),
            "channel": data.get("channel"),
            "granted": True,
        },
    ),
    Kind.CONSENT_WITHDRAWN: (
        "consent.changed",
        lambda data: {
            "purpose": data.get("purpose"),
            "channel": data.get("channel"),
            "granted": False,
        },
    ),
    Kind.CHECKED_IN: ("checkin.recorded", _pick("checkin_id")),
}
# Kinds whose public event their service emits itself (it also happens without a member).
_EMITTED_BY_SERVICE = {Kind.RETURNED}


def outbox_from_timeline(
    *,
    kind: str,
    member: Member,
    store: Store | None,
    data: dict[str, Any],
    occurred_at: datetime.datetime | None = None,
) -> OutboxEvent | None:
    """The public event of a timeline event, if its kind has one. ``activity_record`` calls
    it in the same transaction."""
    mapped = TIMELINE_EVENTS.get(kind)
    if mapped is None or kind in _EMITTED_BY_SERVICE:
        return None
    type_, public = mapped
    return outbox_emit(
        type_, member=member, store=store, data=public(data), occurred_at=occurred_at
    )


# --- emitting -----------------------------------------------------------------------------------

OutboxHook = Callable[[list[int]], None]
# Called after commit with the ids of the events the transaction wrote (w2's dispatcher).
outbox_committed_hooks: list[OutboxHook] = []


def outbox_on_commit_register(hook: OutboxHook) -> None:
    """Call ``hook(event_ids)`` after every commit that wrote events. From ``AppConfig.ready``.

    A hook that raises is logged and does not affect the others (the rows are committed; a
    sweep must find events a hook lost)."""
    if hook not in outbox_committed_hooks:
        outbox_committed_hooks.append(hook)


def _hooks_run(event_ids: list[int]) -> None:
    for hook in list(outbox_committed_hooks):
        try:
            hook(event_ids)
        except Exception:
            logger.exception("outbox hook %r failed for events %s", hook, event_ids)


def outbox_emitted(event_ids: Sequence[int]) -> None:
    """Hand events inserted in the current transaction to the hooks after commit.
    ``outbox_emit`` calls it; SQL that inserts its own rows (the till) calls it with their ids."""
    ids = [int(i) for i in event_ids if i is not None]
    if ids and outbox_committed_hooks:
        transaction.on_commit(lambda: _hooks_run(ids))


_INSERT = RowInserter(OutboxEvent)


def outbox_emit(
    type: str,
    *,
    member: Member | None = None,
    store: Store | None = None,
    data: dict[str, Any],
    version: int = 1,
    occurred_at: datetime.datetime | None = None,
) -> OutboxEvent:
    """Write one public event in the caller's transaction (one INSERT, no savepoint).

    ``data`` holds ids and small facts only, never personal data (docs/webhooks.md). Called
    outside a transaction, the row is written in one of its own (the change it reports was
    committed already)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"Unknown event type {type!r}: add it to members.outbox.EVENT_TYPES.")
    event = OutboxEvent(
        type=type,
        version=version,
        member=member,
        store=store,
        data=data,
        occurred_at=occurred_at or timezone.now(),
    )
    if transaction.get_connection().in_atomic_block:
        _INSERT.insert(event)
    else:
        with transaction.atomic():
            _INSERT.insert(event)
    outbox_emitted([event.pk])
    return event


# --- the payload --------------------------------------------------------------------------------


def event_payload(event: OutboxEvent) -> dict[str, Any]:
    """The public JSON body of an event, the same in webhooks and the pull feed.

    ``data`` gets ``member_id`` and ``membership_number`` (member events) and ``store`` (the
    store's code, or null) in front of the event's own facts. The membership number is read
    when the payload is rendered and is null once the member is erased: the row itself keeps
    ids only. Load events with ``select_related("member", "store")``."""
    data: dict[str, Any] = {}
    spec = EVENT_TYPES.get(event.type)
    if spec is None or spec.member_bound:
        member = event.member if event.member_id is not None else None
        data["member_id"] = event.member_id
        data["membership_number"] = (
            member.membership_number if member is not None and member.erased_at is None else None
        )
    data["store"] = event.store.code if event.store_id is not None and event.store else None
    data.update(event.data)
    return {
        "id": event.webhook_id,
        "type": event.type,
        "version": event.version,
        "occurred_at": event.occurred_at.isoformat(),
        "data": data,
    }


# --- who may see what ---------------------------------------------------------------------------


def event_types_visible(scopes: Iterable[str]) -> list[str]:
    """The event types a key with ``scopes`` may receive (besides events:read for the feed)."""
    have = set(scopes)
    return [t.name for t in _TYPES if t.scope in have]


def event_visible(event: OutboxEvent, *, scopes: Iterable[str], store_id: int | None) -> bool:
    """Whether a key (or a webhook endpoint) of ``store_id`` with ``scopes`` may see
    ``event``: its type's scope, and a store-bound event only from its own store unless it
    has events:all_stores. ``store_id`` None means no store restriction."""
    have = set(scopes)
    spec = EVENT_TYPES.get(event.type)
    if spec is None or spec.scope not in have:
        return False
    if not spec.store_bound or store_id is None or ALL_STORES_SCOPE in have:
        return True
    return event.store_id == store_id


def outbox_visible(
    queryset: QuerySet[OutboxEvent], *, scopes: Iterable[str], store_id: int | None
) -> QuerySet[OutboxEvent]:
    """``event_visible`` as a filter."""
    have = set(scopes)
    allowed = event_types_visible(have)
    queryset = queryset.filter(type__in=allowed)
    if store_id is None or ALL_STORES_SCOPE in have:
        return queryset
    unbound = [t for t in allowed if not EVENT_TYPES[t].store_bound]
    return queryset.filter(Q(type__in=unbound) | Q(store_id=store_id))


# --- the feed's order ---------------------------------------------------------------------------

# The advisory lock that makes one sequencer run at a time (any number, fixed for the app).
_SEQUENCE_LOCK = 0x6B6B_6F75_7462  # "kkoutb"


def outbox_sequence(*, limit: int = 5000) -> int:
    """Give committed events that have none a feed position, in id order. Returns how many.

    Why: ids come from a sequence when the row is inserted, but transactions commit in
    another order, so a reader that went by id could pass id 11 (committed) while id 10 was
    still uncommitted, and never see 10. Positions are instead handed out after commit, by
    one sequencer at a time (a transaction-level advisory lock), each run above every
    position before it: a run's positions become visible together when it commits, before
    the next run can start, so the positions a reader sees are always a gap-free prefix and
    a row that commits late simply gets a later position. The feed calls this before it
    reads; beat calls it too (members.tasks.outbox_sequence)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEQUENCE_LOCK])
        table = connection.ops.quote_name(OutboxEvent._meta.db_table)
        cursor.execute(
            f"""
            WITH base AS (SELECT coalesce(max(position), 0) AS top FROM {table}),
            todo AS (
                SELECT id, row_number() OVER (ORDER BY id) AS n FROM (
                    SELECT id FROM {table} WHERE position IS NULL ORDER BY id LIMIT %s
                ) AS waiting
            )
            UPDATE {table} AS o SET position = base.top + todo.n
            FROM todo, base WHERE o.id = todo.id
            """,  # noqa: S608 - the table name from the model's metadata
            [limit],
        )
        return cursor.rowcount


def outbox_feed(
    *, after: int, limit: int, scopes: Iterable[str], store_id: int | None
) -> tuple[list[OutboxEvent], int]:
    """The events after feed position ``after`` that the key may see, oldest first, and the
    cursor to ask with next time.

    The head (the highest position) is read first and the page is read up to it: every
    position up to the head is committed and visible to the page's later snapshot, so when
    the page is not full the next cursor is the head, past events the key may not see."""
    outbox_sequence()
    head = outbox_feed_head()
    events = OutboxEvent.objects.filter(position__gt=after, position__lte=head)
    page = list(
        outbox_visible(events, scopes=scopes, store_id=store_id)
        .select_related("member", "store")
        .order_by("position")[:limit]
    )
    if len(page) == limit:
        return page, int(page[-1].position or after)
    return page, max(head, after)


def outbox_feed_head() -> int:
    """The highest feed position given so far (0 when none)."""
    top = (
        OutboxEvent.objects.filter(position__isnull=False)
        .order_by("-position")
        .values_list("position", flat=True)
        .first()
    )
    return int(top or 0)


# --- retention ----------------------------------------------------------------------------------


# Events deleted per transaction by the purge.
PURGE_BATCH = 1000


def outbox_purge(*, now: datetime.datetime | None = None, keep_days: int | None = None) -> int:
    """Delete events older than WEBHOOKS_OUTBOX_KEEP_DAYS (default 30). Beat runs it daily.

    In batches, each its own transaction: under the sequencer's advisory lock (two purges, or
    a purge and the sequencer numbering the same rows, never run side by side), the batch's
    rows locked in id order, skipping rows another transaction holds (an erasure scrubbing a
    member's events): the next run takes those. Locking in one order is what keeps a purge
    from deadlocking with the writers beside it (the soak found one at a 10 s beat)."""
    now = now or timezone.now()
    days = (
        keep_days if keep_days is not None else getattr(settings, "WEBHOOKS_OUTBOX_KEEP_DAYS", 30)
    )
    cutoff = now - datetime.timedelta(days=days)
    deleted = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEQUENCE_LOCK])
            # The event with the highest position stays: the sequencer continues above it,
            # so a reader's cursor never sees a position again.
            head = outbox_feed_head()
            old = OutboxEvent.objects.filter(occurred_at__lt=cutoff)
            if head:
                old = old.exclude(position=head)
            ids = list(
                old.order_by("pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:PURGE_BATCH]
            )
            if not ids:
                return deleted
            count, _by_model = OutboxEvent.objects.filter(pk__in=ids).delete()
            deleted += count
        if len(ids) < PURGE_BATCH:
            return deleted
