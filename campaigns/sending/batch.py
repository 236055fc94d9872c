"""Sending a batch: ``deliveries_send`` claims each delivery, checks consent and the contact
budget at that moment, sends, and marks it sent only if its claim still holds. Tasks are
``acks_late``; everything is safe to run twice."""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import (
    Campaign,
    Delivery,
    MemberOffer,
    Variant,
)
from campaigns.sending import rendering
from campaigns.sending.channels import (
    PermanentError,
    TransientError,
    channel_get,
)
from campaigns.sending.claim import Claimed, deliveries_claim, deliveries_status_set
from campaigns.sending.fanout import campaign_finish_if_done, sends_queue
from campaigns.sending.sendtime import Rank, budget_take
from consent.selectors import contact_permissions
from members.activity import Kind, activity_record, consumers_for
from members.models import Member

logger = logging.getLogger(__name__)


# Suppressions that are about one channel: the next channel in the campaign's order is tried.
CHANNEL_REASONS = frozenset(
    {"no_consent", "withdrawn", "quiet_hours", "channel_not_covered", "no_address"}
)


def deliveries_send(
    *, delivery_ids: list[int], now: datetime.datetime | None = None
) -> dict[str, int]:
    """Claim, check, send and record a batch of deliveries. Returns counts by outcome."""
    now = now or timezone.now()
    rows = deliveries_claim(list(delivery_ids), now)
    counts: dict[str, int] = defaultdict(int)
    if not rows:
        return {}
    campaigns = Campaign.objects.in_bulk({r.campaign_id for r in rows})
    variants = Variant.objects.select_related("offer").in_bulk(
        {r.variant_id for r in rows if r.variant_id is not None}
    )
    people = rendering.people([r.member_id for r in rows])
    groups: dict[tuple[int, str], list[Claimed]] = defaultdict(list)
    for row in rows:
        groups[(row.campaign_id, row.channel)].append(row)
    for (campaign_id, channel_name), group in groups.items():
        batch = _Batch(campaigns[campaign_id], channel_name, variants, people, now)
        for outcome, n in batch.send(group).items():
            counts[outcome] += n
    for campaign_id in campaigns:
        campaign_finish_if_done(campaign_id=campaign_id)
    return dict(counts)


class _Batch:
    """One campaign's claimed deliveries on one channel, checked and sent together."""

    def __init__(
        self,
        campaign: Campaign,
        channel_name: str,
        variants: dict[int, Variant],
        people: dict[int, rendering.Person],
        now: datetime.datetime,
    ) -> None:
        self.campaign = campaign
        self.channel_name = channel_name
        self.channel = channel_get(channel_name)
        self.variants = variants
        self.people = people
        self.now = now
        # An on-site offer for a member who just checked in is shown on the page the member
        # opened (campaigns.door): no marketing message, so it takes no contact budget. It
        # still needs the member's consent to personal offers (the channel's purpose).
        self.budget_free = (
            channel_name == "onsite"
            and campaign.schedule_kind == Campaign.ScheduleKind.TRIGGER
            and campaign.trigger == Campaign.Trigger.CHECKED_IN
        )

    def _has_address(self, row: Claimed) -> bool:
        person = self.people.get(row.member_id)
        if person is None:
            return False
        if self.channel.address == "email":
            return bool(person.email)
        if self.channel.address == "phone":
            return bool(person.phone)
        return True

    def send(self, group: list[Claimed]) -> dict[str, int]:
        campaign, now, claim = self.campaign, self.now, group[0].claimed_at
        counts: dict[str, int] = defaultdict(int)
        decisions = contact_permissions(
            member_ids=[r.member_id for r in group],
            purpose=self.channel.purpose,
            channel=self.channel.consent_channel,
            at=now,
        )
        suppressed: dict[str, list[Claimed]] = defaultdict(list)
        allowed: list[Claimed] = []
        for row in group:
            decision = decisions[row.member_id]
            if not decision.allowed:
                suppressed[decision.reason].append(row)
            elif not self._has_address(row):
                suppressed["no_address"].append(row)
            else:
                allowed.append(row)
        to_send: list[Claimed] = []
        with transaction.atomic():
            outcome = budget_take(
                member_ids=[]
                if self.budget_free
                else [r.member_id for r in allowed if not r.budget_taken],
                rank=Rank(campaign_id=campaign.pk, priority=campaign.priority),
                at=now,
            )
            taken = []
            for row in allowed:
                result = "ok" if row.budget_taken else outcome.get(row.member_id, "ok")
                if result == "ok":
                    to_send.append(row)
                    if not row.budget_taken and not self.budget_free:
                        taken.append(row.pk)
                else:
                    suppressed[result].append(row)
            fallbacks: list[Delivery] = []
            for reason, items in suppressed.items():
                n = deliveries_status_set(
                    [r.pk for r in items], claim, status=Delivery.Status.SUPPRESSED, reason=reason
                )
                counts[f"suppressed:{reason}"] += n
                if reason in CHANNEL_REASONS:
                    fallbacks += self._fallback_rows(items)
            if fallbacks:
                Delivery.objects.bulk_create(fallbacks, ignore_conflicts=True)
                next_ids = list(
                    Delivery.objects.filter(
                        campaign=campaign,
                        status=Delivery.Status.PENDING,
                        member_id__in=[f.member_id for f in fallbacks],
                        channel__in={f.channel for f in fallbacks},
                    ).values_list("pk", flat=True)
                )
                transaction.on_commit(lambda: sends_queue(next_ids))
            if to_send and not self.channel.external:
                # A channel that only writes to this database (the inbox, no-op) sends in
                # the transaction that takes the budget: both commit, or neither.
                for name, n in self._deliver(to_send, claim).items():
                    counts[name] += n
                to_send = []
            else:
                # The budget is taken now, for good: a re-send after a crash must not take
                # it again.
                deliveries_status_set(taken, claim, budget_taken=True)
        if to_send:
            for name, n in self._deliver(to_send, claim).items():
                counts[name] += n
        return counts

    def _fallback_rows(self, items: list[Claimed]) -> list[Delivery]:
        order = list(self.campaign.channels)
        if self.channel_name not in order or order.index(self.channel_name) + 1 >= len(order):
            return []
        following = order[order.index(self.channel_name) + 1]
        return [
            Delivery(
                campaign_id=row.campaign_id,
                variant_id=row.variant_id,
                member_id=row.member_id,
                channel=following,
                occurrence=row.occurrence,
                status=Delivery.Status.PENDING,
                created_at=self.now,
                queued_at=self.now,
            )
            for row in items
        ]

    def _deliver(self, rows: list[Claimed], claim: datetime.datetime) -> dict[str, int]:
        channel, now = self.channel, self.now
        counts: dict[str, int] = defaultdict(int)
        used = {self.variants[r.variant_id] for r in rows if r.variant_id in self.variants}
        sources: list[str] = []
        for variant in used:
            for language in ("sv", "en"):
                sources += rendering.sources(variant, language)
        contexts = rendering.member_contexts(
            [self.people[r.member_id] for r in rows],
            fields=rendering.fields_used(*sources),
            now=now,
        )
        bulk: list[Claimed] = []
        refs: dict[int, str] = {}
        for row in rows:
            row_variant = self.variants.get(row.variant_id or 0)
            if row_variant is None:
                counts["failed"] += deliveries_status_set(
                    [row.pk], claim, status=Delivery.Status.FAILED, reason="no_variant"
                )
                continue
            message = rendering.message_for(
                delivery_id=row.pk,
                person=self.people[row.member_id],
                variant=row_variant,
                channel=self.channel_name,
                purpose=channel.purpose,
                consent_channel=channel.consent_channel,
                context=contexts[row.member_id],
            )
            if not channel.external:
                refs[row.pk] = channel.send(message)
                bulk.append(row)
                continue
            try:
                ref = channel.send(message)
            except TransientError as error:
                counts[delivery_retry(row, claim, now, str(error))] += 1
                continue
            except PermanentError as error:
                counts["failed"] += deliveries_status_set(
                    [row.pk], claim, status=Delivery.Status.FAILED, reason=error.reason[:30]
                )
                continue
            # Marked one by one right after the provider took it: a worker killed between
            # the two leaves one row for the sweeper, re-sent with the same idempotency key.
            with transaction.atomic():
                counts["sent"] += self._mark_sent([row], claim, {row.pk: ref})
        if bulk:
            with transaction.atomic():
                counts["sent"] += self._mark_sent(bulk, claim, refs)
        return counts

    def _mark_sent(
        self, rows: list[Claimed], claim: datetime.datetime, refs: dict[int, str]
    ) -> int:
        return deliveries_mark_sent(rows, claim, self.now, refs, variants=self.variants)


def delivery_retry(
    row: Claimed, claim: datetime.datetime, now: datetime.datetime, error: str
) -> str:
    if row.attempts >= settings.CAMPAIGNS_MAX_ATTEMPTS:
        deliveries_status_set(
            [row.pk], claim, status=Delivery.Status.FAILED, reason="provider_error"
        )
        logger.warning("delivery %s failed for good: %s", row.pk, error)
        return "failed"
    backoff = min(30 * 2 ** max(row.attempts - 1, 0), 3600)
    deliveries_status_set(
        [row.pk],
        claim,
        status=Delivery.Status.PENDING,
        reason="retry",
        not_before=now + datetime.timedelta(seconds=backoff),
        queued_at=None,
    )
    return "retry"


def deliveries_mark_sent(
    rows: list[Claimed],
    claim: datetime.datetime,
    now: datetime.datetime,
    refs: dict[int, str],
    *,
    variants: dict[int, Variant],
) -> int:
    """Sending -> sent, only where the claim still holds, and in the same statement the
    "message received" timeline events for exactly those rows; then the member's offers.
    Call inside a transaction."""
    table = Delivery._meta.db_table
    ids = [r.pk for r in rows]
    kind = str(Kind.MESSAGE_RECEIVED)
    # Nobody reacts to "message received" on the timeline today, so its events are written
    # in bulk with the update; with a consumer registered, activity_record dispatches them.
    bulk_events = not consumers_for(kind)
    events_sql = (
        ", events AS (INSERT INTO members_activityevent "
        "(member_id, kind, data, source, created_at) "
        "SELECT member_id, %s, jsonb_build_object('campaign_id', campaign_id, 'delivery_id', id, "
        "'channel', channel), 'system', %s FROM sent) "
        if bulk_events
        else ""
    )
    params: list[Any] = [now, ids, [refs.get(i, "")[:100] for i in ids], claim]
    if bulk_events:
        params += [kind, now]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH sent AS (UPDATE {table} AS d SET status = 'sent', sent_at = %s, "  # noqa: S608
            "reason = '', provider_ref = r.ref "
            "FROM unnest(%s::bigint[], %s::text[]) AS r(id, ref) "
            "WHERE d.id = r.id AND d.status = 'sending' AND d.claimed_at = %s "
            f"RETURNING d.id, d.member_id, d.campaign_id, d.channel) {events_sql}"
            "SELECT id FROM sent",
            params,
        )
        sent = {row[0] for row in cursor.fetchall()}
    done = [r for r in rows if r.pk in sent]
    if not bulk_events:
        for row in done:
            activity_record(
                member=Member(pk=row.member_id),
                kind=Kind.MESSAGE_RECEIVED,
                data={
                    "campaign_id": row.campaign_id,
                    "delivery_id": row.pk,
                    "channel": row.channel,
                },
            )
    # (offer id, last moment to activate it) per variant: one batch shares one ``now``
    offer_of = {
        pk: (v.offer.pk, v.offer.activate_until(now))
        for pk, v in variants.items()
        if v.offer is not None
    }
    offers = [
        MemberOffer(
            member_id=r.member_id,
            offer_id=offer_of[r.variant_id][0],
            campaign_id=r.campaign_id,
            delivery_id=r.pk,
            created_at=now,
            available_until=offer_of[r.variant_id][1],
        )
        for r in done
        if r.variant_id is not None and r.variant_id in offer_of
    ]
    if offers:
        MemberOffer.objects.bulk_create(offers, ignore_conflicts=True)
    return len(done)
