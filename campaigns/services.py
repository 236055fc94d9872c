"""Writes for segments, offers, campaigns and the sending engine.

The engine (docs/campaigns.md): ``campaign_launch`` schedules; beat's ``campaigns_start_due``
(or launch itself, when due now) moves the campaign to "sending" with a conditional update
and writes its fan-out chunks; each chunk task inserts the chunk's delivery rows in one
``INSERT ... SELECT`` and queues send batches; ``deliveries_send`` claims each delivery with a
conditional UPDATE, checks consent and the contact budget at that moment, sends, and marks
it sent only if its claim still holds. ``deliveries_sweep`` (beat) re-queues what a killed
worker left behind. Tasks are ``acks_late``; everything is safe to run twice.
"""

from __future__ import annotations

import csv
import datetime
import io
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Exists, Max, Min, OuterRef
from django.template import TemplateSyntaxError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns import broker, fanout, rendering
from campaigns.channels import (
    CHANNELS,
    PermanentError,
    TransientError,
    channel_get,
)
from campaigns.models import (
    Campaign,
    Delivery,
    FanoutChunk,
    MemberOffer,
    Offer,
    Segment,
    SegmentMember,
    Variant,
)
from campaigns.segments import criteria_validate
from campaigns.selectors import REWARD_OFFER_KEY
from campaigns.sendtime import Rank, budget_take
from consent.selectors import contact_permissions
from members.activity import Kind, activity_record, consumers_for
from members.errors import ConflictError, DomainError, NotFoundError
from members.models import ActivityEvent, Member, User

logger = logging.getLogger(__name__)

# Suppressions that are about one channel: the next channel in the campaign's order is tried.
CHANNEL_REASONS = frozenset(
    {"no_consent", "withdrawn", "quiet_hours", "channel_not_covered", "no_address"}
)


class CampaignStateError(ConflictError):
    code = "campaign_state"
    default_message = gettext_lazy("The campaign cannot do that in its current state.")


class CampaignInvalidError(DomainError):
    code = "campaign_invalid"


class OfferNotActivatableError(ConflictError):
    code = "offer_not_activatable"


# --- segments ---------------------------------------------------------------------------------


def segment_save(
    *,
    name: str,
    criteria: dict[str, Any] | None,
    description: str = "",
    segment: Segment | None = None,
    actor: User | None = None,
) -> Segment:
    """Create or update a criteria segment. Criteria are validated before anything is saved."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the segment a name.")})
    criteria_validate(criteria or {})
    with transaction.atomic():
        if segment is None:
            segment = Segment.objects.create(
                name=name,
                description=description,
                criteria=criteria or {},
                kind=Segment.Kind.DYNAMIC,
                created_by=actor,
            )
        else:
            segment = Segment.objects.select_for_update().get(pk=segment.pk)
            segment.name, segment.description = name, description
            segment.criteria = criteria or {}
            segment.updated_at = timezone.now()
            segment.save(update_fields=["name", "description", "criteria", "updated_at"])
    return segment


MAX_CSV_ROWS = 200_000


def segment_import_csv(*, name: str, content: bytes | str, actor: User | None = None) -> Segment:
    """A static segment from a CSV of membership numbers or email addresses (one per line,
    first column; a header line is allowed). The report lists every line not used and why
    (its number and reason, never its value)."""
    text = content.decode("utf-8-sig", errors="replace") if isinstance(content, bytes) else content
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) > MAX_CSV_ROWS:
        raise ValidationError({"file": _("At most %(n)s lines.") % {"n": MAX_CSV_ROWS}})
    values = [(i, (row[0] if row else "").strip()) for i, row in enumerate(rows, start=1)]
    if values and values[0][1].lower() in {"membership_number", "email", "medlemsnummer", "e-post"}:
        values = values[1:]
    numbers = {v for _i, v in values if v.isdigit()}
    emails = {v.lower() for _i, v in values if "@" in v}
    by_number = dict(
        Member.objects.filter(membership_number__in=numbers, erased_at__isnull=True).values_list(
            "membership_number", "pk"
        )
    )
    by_email = dict(
        Member.objects.filter(user__email__in=emails, erased_at__isnull=True).values_list(
            "user__email", "pk"
        )
    )
    found: dict[int, int] = {}
    rejected: list[dict[str, Any]] = []
    duplicates = 0
    for line, value in values:
        if not value:
            rejected.append({"line": line, "reason": "empty"})
            continue
        member_id = by_number.get(value) if value.isdigit() else by_email.get(value.lower())
        if member_id is None:
            reason = "unknown" if value.isdigit() or "@" in value else "not_an_identifier"
            # Not the value: a rejected line is often someone's phone, email or name, and
            # the report outlives the upload (docs/privacy.md, "Erasure").
            rejected.append({"line": line, "reason": reason})
        elif member_id in found:
            duplicates += 1
        else:
            found[member_id] = line
    report = {
        "lines": len(values),
        "matched": len(found),
        "duplicates": duplicates,
        "rejected": len(rejected),
        "rejected_lines": rejected[:500],
    }
    with transaction.atomic():
        segment = Segment.objects.create(
            name=(name or "").strip() or _("Uploaded list"),
            kind=Segment.Kind.STATIC,
            import_report=report,
            created_by=actor,
        )
        SegmentMember.objects.bulk_create(
            [SegmentMember(segment=segment, member_id=pk) for pk in found],
            batch_size=5000,
            ignore_conflicts=True,
        )
    return segment


# --- offers and campaigns ---------------------------------------------------------------------


def offer_save(*, offer: Offer | None = None, **fields: Any) -> Offer:
    """Create or update an offer after validating it as a whole."""
    obj = offer or Offer()
    for key, value in fields.items():
        setattr(obj, key, value)
    obj.full_clean()
    if obj.kind == Offer.Kind.BONUS_POINTS and obj.category_id is None and obj.product_id is None:
        raise ValidationError({"category": _("A bonus offer needs a category or a product.")})
    offer_reward_code_check(kind=obj.kind, reward_code=obj.reward_code)
    with transaction.atomic():
        obj.save()
    return obj


def offer_reward_code_check(*, kind: str, reward_code: str) -> None:
    """A reward offer must name a reward of the catalogue: raise ``ValidationError`` on
    ``reward_code`` otherwise (the admin form shows it next to the field)."""
    if kind != Offer.Kind.REWARD:
        return
    if not reward_code:
        raise ValidationError({"reward_code": _("Name the reward by its code.")})
    from rewards.models import Reward

    if not Reward.objects.filter(code=reward_code).exists():
        raise ValidationError(
            {
                "reward_code": _("No reward in the catalogue has the code “%(code)s”.")
                % {"code": reward_code}
            }
        )


def _draft_lock(campaign: Campaign) -> Campaign:
    """Lock the campaign row and re-check it is still a draft. Call inside a transaction.

    Lock first: a launch in another tab flips the status with a conditional UPDATE, and an
    edit that checked a stale copy must neither proceed nor write ``draft`` back over it.
    """
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.status != Campaign.Status.DRAFT:
        raise CampaignStateError(_("Only a draft can be changed."))
    return locked


def campaign_save(*, campaign: Campaign | None = None, **fields: Any) -> Campaign:
    """Create or update a draft campaign."""
    if campaign is not None and campaign.status != Campaign.Status.DRAFT:
        raise CampaignStateError(_("Only a draft can be changed."))
    obj = campaign or Campaign()
    for key, value in fields.items():
        setattr(obj, key, value)
    channels = obj.channels or []
    if not isinstance(channels, list) or not channels or len(set(channels)) != len(channels):
        raise ValidationError({"channels": _("Choose one or more channels, each once.")})
    if any(c not in CHANNELS for c in channels):
        raise ValidationError({"channels": _("Unknown channel.")})
    obj.full_clean()
    with transaction.atomic():
        if campaign is None:
            obj.save()
        else:
            _draft_lock(campaign)
            # Only the edited fields: never the status, which only launch and cancel change.
            edited = [key for key in fields if key != "status"]
            if edited:
                obj.save(update_fields=edited)
    return obj


def variant_save(*, campaign: Campaign, code: str = "A", **fields: Any) -> Variant:
    """Create or update the campaign's variant ``code``; texts must compile."""
    if campaign.status != Campaign.Status.DRAFT:
        raise CampaignStateError(_("Only a draft can be changed."))
    variant = Variant.objects.filter(campaign=campaign, code=code).first() or Variant(
        campaign=campaign, code=code
    )
    for key, value in fields.items():
        setattr(variant, key, value)
    for name in (
        "email_subject_sv",
        "email_subject_en",
        "email_html_sv",
        "email_html_en",
        "email_text_sv",
        "email_text_en",
        "sms_text_sv",
        "sms_text_en",
    ):
        try:
            rendering.template_check(getattr(variant, name))
        except TemplateSyntaxError as error:
            raise ValidationError(
                {name: _("The text does not compile: %(e)s") % {"e": error}}
            ) from error
    variant.full_clean()
    with transaction.atomic():
        _draft_lock(campaign)
        variant.save()
    return variant


def variant_delete(*, campaign: Campaign, variant_id: int) -> None:
    """Remove a variant from a draft campaign (not once it has been launched)."""
    with transaction.atomic():
        _draft_lock(campaign)
        Variant.objects.filter(pk=variant_id, campaign=campaign).delete()


def _launch_check(campaign: Campaign) -> list[Variant]:
    variants = list(campaign.variants.select_related("offer").order_by("code"))
    if not variants:
        raise CampaignInvalidError(_("Write at least one variant."))
    if sum(v.weight for v in variants) != 100:
        raise CampaignInvalidError(_("The variants' shares must add up to 100 %."))
    for variant in variants:
        for language in ("sv", "en"):
            for channel in campaign.channels:
                if channel == "email" and not getattr(variant, f"email_subject_{language}"):
                    raise CampaignInvalidError(
                        _("Variant %(code)s has no email subject in %(lang)s.")
                        % {"code": variant.code, "lang": language}
                    )
                if channel == "sms" and not (
                    getattr(variant, f"sms_text_{language}")
                    or getattr(variant, f"email_text_{language}")
                ):
                    raise CampaignInvalidError(
                        _("Variant %(code)s has no SMS text in %(lang)s.")
                        % {"code": variant.code, "lang": language}
                    )
    if campaign.schedule_kind == Campaign.ScheduleKind.RECURRING and not campaign.crontab:
        raise CampaignInvalidError(_("A recurring campaign needs a crontab."))
    if campaign.schedule_kind == Campaign.ScheduleKind.TRIGGER and not campaign.trigger:
        raise CampaignInvalidError(_("A triggered campaign needs a trigger."))
    return variants


def campaign_launch(
    *, campaign: Campaign, actor: User | None, now: datetime.datetime | None = None
) -> Campaign:
    """Draft -> scheduled (or straight to sending when due now). Far-future sends stay in
    the database; beat starts them when due."""
    now = now or timezone.now()
    _launch_check(campaign)
    with transaction.atomic():
        updated = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.DRAFT).update(
            status=Campaign.Status.SCHEDULED,
            launched_at=now,
            launched_by=actor,
            send_at=campaign.send_at or now,
        )
        if not updated:
            raise CampaignStateError()
        campaign.refresh_from_db()
        if campaign.schedule_kind == Campaign.ScheduleKind.RECURRING:
            _periodic_task_create(campaign)
        elif campaign.schedule_kind == Campaign.ScheduleKind.TRIGGER:
            Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
        elif campaign.send_at is not None and campaign.send_at <= now + datetime.timedelta(
            seconds=5
        ):
            campaign_id = campaign.pk
            # Broker away: the campaign is scheduled and due, and beat's campaigns_start_due
            # starts it (docs/campaigns.md, "After a broker restart").
            transaction.on_commit(lambda: broker.publish(_task("campaign_start"), campaign_id))
    campaign.refresh_from_db()
    return campaign


def _periodic_task_create(campaign: Campaign) -> None:
    import json

    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    parts = campaign.crontab.split()
    if len(parts) != 5:
        raise CampaignInvalidError(_("A crontab has five fields: minute hour day month weekday."))
    schedule, _created = CrontabSchedule.objects.get_or_create(
        minute=parts[0],
        hour=parts[1],
        day_of_month=parts[2],
        month_of_year=parts[3],
        day_of_week=parts[4],
        timezone="Europe/Stockholm",
    )
    PeriodicTask.objects.update_or_create(
        name=f"campaign-{campaign.pk}",
        defaults={
            "task": "campaigns.tasks.campaign_occurrence_start",
            "crontab": schedule,
            "args": json.dumps([campaign.pk]),
            "enabled": True,
        },
    )


def campaign_cancel(*, campaign: Campaign, actor: User | None) -> int:
    """Stop the campaign: nothing not yet sent will be. Returns deliveries cancelled."""
    now = timezone.now()
    with transaction.atomic():
        updated = Campaign.objects.filter(
            pk=campaign.pk,
            status__in=[Campaign.Status.DRAFT, Campaign.Status.SCHEDULED, Campaign.Status.SENDING],
        ).update(status=Campaign.Status.CANCELLED, cancelled_at=now)
        if not updated:
            raise CampaignStateError()
        FanoutChunk.objects.filter(campaign=campaign, done_at__isnull=True).update(done_at=now)
        cancelled = Delivery.objects.filter(
            campaign=campaign, status=Delivery.Status.PENDING
        ).update(status=Delivery.Status.CANCELLED, reason="campaign_cancelled")
        from django_celery_beat.models import PeriodicTask

        PeriodicTask.objects.filter(name=f"campaign-{campaign.pk}").update(enabled=False)
    return cancelled


def campaign_test_send(
    *, campaign: Campaign, variant: Variant, email: str, language: str, actor: User | None
) -> None:
    """Send the variant's email to a staff address, rendered for ``actor`` as sample member."""
    if "@" not in email:
        raise ValidationError({"email": _("Enter an email address.")})
    context = {"first_name": getattr(actor, "first_name", "") or "Anna", "points": 1234}
    for field in rendering.MERGE_FIELDS:
        context.setdefault(field, "")
    rendered = rendering.render_variant(variant=variant, language=language, context=context)
    message = EmailMultiAlternatives(
        subject=f"[TEST] {rendered.subject or rendered.title}", body=rendered.text, to=[email]
    )
    if rendered.html:
        message.attach_alternative(rendered.html, "text/html")
    message.send()


# --- fan-out ----------------------------------------------------------------------------------


def _task(name: str) -> Any:
    from campaigns import tasks

    return getattr(tasks, name)


def campaign_start(
    *,
    campaign_id: int,
    occurrence: str = "",
    now: datetime.datetime | None = None,
    forced_variant_id: int | None = None,
) -> int:
    """Scheduled (due) -> sending, and write the fan-out chunks. Returns chunks written (0 when
    the campaign was not due or was started already)."""
    now = now or timezone.now()
    chunk_size = settings.CAMPAIGNS_FANOUT_CHUNK
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(of=("self",))
            .select_related("segment")
            .filter(pk=campaign_id)
            .first()
        )
        if campaign is None:
            return 0
        promoting = forced_variant_id is not None and campaign.status == Campaign.Status.DONE
        due = campaign.status == Campaign.Status.SCHEDULED and (
            campaign.send_at is None or campaign.send_at <= now
        )
        if not (due or promoting):
            return 0
        bounds = fanout.audience(campaign).aggregate(low=Min("pk"), high=Max("pk"))
        chunks = []
        limit = None if promoting else campaign.test_group_size
        if bounds["low"] is not None:
            if limit is not None:
                chunks.append((bounds["low"], bounds["high"]))
            else:
                low = bounds["low"]
                while low <= bounds["high"]:
                    chunks.append((low, low + chunk_size - 1))
                    low += chunk_size
        made = FanoutChunk.objects.bulk_create(
            [
                FanoutChunk(
                    campaign=campaign,
                    occurrence=occurrence,
                    low=low,
                    high=high,
                    limit=limit,
                    variant_id=forced_variant_id,
                    queued_at=now,
                )
                for low, high in chunks
            ]
        )
        Campaign.objects.filter(pk=campaign.pk).update(
            status=Campaign.Status.SENDING,
            occurrence=occurrence,
            test_group_size=None if promoting else campaign.test_group_size,
            finished_at=None,
        )
        ids = [c.pk for c in made]
        transaction.on_commit(lambda: _queue_chunks(ids))
        if not ids:
            transaction.on_commit(lambda: campaign_finish_if_done(campaign_id=campaign_id))
    return len(ids)


# A fan-out chunk whose task could not be queued is dated back to this: the next sweep
# queues it (the column has no "not queued" value).
NOT_QUEUED = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


def _queue_chunks(chunk_ids: Iterable[int]) -> None:
    """Queue a fan-out task per chunk. With the broker away, the rest are marked not queued
    (the next sweep queues them) instead of raising."""
    task = _task("fanout_chunk")
    ids = list(chunk_ids)
    for n, chunk_id in enumerate(ids):
        if not broker.publish(task, chunk_id):
            FanoutChunk.objects.filter(pk__in=ids[n:], done_at__isnull=True).update(
                queued_at=NOT_QUEUED
            )
            return


def campaign_promote_start(*, campaign: Campaign, variant: Variant) -> int:
    """Send ``variant`` to the members of the segment the test did not reach (the holdout
    keeps applying). For "promote the winner" after a test-group run."""
    if variant.campaign_id != campaign.pk:
        raise NotFoundError()
    if campaign.status != Campaign.Status.DONE:
        raise CampaignStateError(_("Promote the winner after the test run has finished."))
    return campaign_start(campaign_id=campaign.pk, forced_variant_id=variant.pk, occurrence="")


def fanout_chunk_run(*, chunk_id: int, now: datetime.datetime | None = None) -> int:
    """Insert the chunk's deliveries and queue their send batches. Returns rows inserted."""
    now = now or timezone.now()
    with transaction.atomic():
        chunk = (
            FanoutChunk.objects.select_for_update(of=("self",))
            .select_related("campaign", "variant")
            .filter(pk=chunk_id)
            .first()
        )
        if chunk is None or chunk.done_at is not None:
            return 0
        campaign = chunk.campaign
        if campaign.status != Campaign.Status.SENDING:
            return 0
        variants = list(campaign.variants.order_by("code"))
        members = fanout.audience(campaign)
        if chunk.limit is None:
            members = members.filter(pk__gte=chunk.low, pk__lte=chunk.high)
        inserted = fanout.insert_deliveries(
            campaign=campaign,
            members=members,
            variants=variants,
            channel=campaign.channels[0],
            occurrence=chunk.occurrence,
            now=now,
            forced_variant=chunk.variant,
            limit=chunk.limit,
        )
        FanoutChunk.objects.filter(pk=chunk.pk).update(done_at=timezone.now())
        pending = list(
            Delivery.objects.filter(
                campaign=campaign,
                occurrence=chunk.occurrence,
                status=Delivery.Status.PENDING,
                channel=campaign.channels[0],
                member_id__gte=chunk.low,
                member_id__lte=chunk.high,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        transaction.on_commit(lambda: _queue_sends(pending))
        if not pending:
            campaign_id = campaign.pk
            transaction.on_commit(lambda: campaign_finish_if_done(campaign_id=campaign_id))
    return inserted


def _queue_sends(delivery_ids: list[int]) -> None:
    """Queue send batches. With the broker away, the rest of the rows are marked not queued
    (``queued_at`` NULL: the next sweep queues them) instead of raising."""
    size = settings.CAMPAIGNS_SEND_BATCH
    task = _task("deliveries_send")
    for start in range(0, len(delivery_ids), size):
        if not broker.publish(task, delivery_ids[start : start + size]):
            Delivery.objects.filter(
                pk__in=delivery_ids[start:], status=Delivery.Status.PENDING
            ).update(queued_at=None)
            return


def campaign_finish_if_done(*, campaign_id: int) -> bool:
    """Sending -> done (recurring: back to scheduled) once every row is final."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.status != Campaign.Status.SENDING:
        return False
    if campaign.schedule_kind == Campaign.ScheduleKind.TRIGGER:
        return False
    if FanoutChunk.objects.filter(campaign_id=campaign_id, done_at__isnull=True).exists():
        return False
    if Delivery.objects.filter(
        campaign_id=campaign_id, status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]
    ).exists():
        return False
    after = (
        Campaign.Status.SCHEDULED
        if campaign.schedule_kind == Campaign.ScheduleKind.RECURRING
        else Campaign.Status.DONE
    )
    return bool(
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).update(
            status=after, finished_at=timezone.now()
        )
    )


def campaigns_start_due(*, now: datetime.datetime | None = None) -> int:
    """Beat: start every one-off campaign whose time has come."""
    now = now or timezone.now()
    started = 0
    for campaign_id in Campaign.objects.filter(
        status=Campaign.Status.SCHEDULED,
        schedule_kind=Campaign.ScheduleKind.ONCE,
        send_at__lte=now,
    ).values_list("pk", flat=True):
        started += 1 if campaign_start(campaign_id=campaign_id, now=now) else 0
    return started


def campaign_occurrence_start(*, campaign_id: int, now: datetime.datetime | None = None) -> int:
    """A recurring campaign's run (from its periodic task): one occurrence per local minute."""
    now = now or timezone.now()
    occurrence = timezone.localtime(now).strftime("%Y-%m-%dT%H:%M")
    return campaign_start(campaign_id=campaign_id, occurrence=occurrence, now=now)


# --- sending ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A delivery this task claimed: the columns the send path needs, nothing more."""

    pk: int
    member_id: int
    campaign_id: int
    variant_id: int | None
    channel: str
    occurrence: str
    budget_taken: bool
    attempts: int
    claimed_at: datetime.datetime


def _claim(delivery_ids: list[int], now: datetime.datetime) -> list[Claimed]:
    """Claim pending, due rows: pending -> sending, one UPDATE. A row claimed by someone
    else (a duplicate task) is simply not returned; rows of a campaign no longer sending are
    handed back (cancelled with it, or pending again)."""
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        # "(status = 'pending') IS TRUE" keeps the planner on the primary key: while a
        # campaign sends, statistics on status are stale, and a plan through the status
        # indexes would scan every pending row of the campaign for each batch.
        cursor.execute(
            f"UPDATE {table} AS d SET status = 'sending', claimed_at = %s, "  # noqa: S608
            "attempts = d.attempts + 1 "
            "WHERE d.id = ANY(%s::bigint[]) AND (d.status = 'pending') IS TRUE "
            "AND (d.not_before IS NULL OR d.not_before <= %s) "
            "RETURNING d.id, d.member_id, d.campaign_id, d.variant_id, d.channel, "
            "d.occurrence, d.budget_taken, d.attempts",
            [now, delivery_ids, now],
        )
        rows = [
            Claimed(
                pk=pk,
                member_id=member_id,
                campaign_id=campaign_id,
                variant_id=variant_id,
                channel=channel,
                occurrence=occurrence,
                budget_taken=budget_taken,
                attempts=attempts,
                claimed_at=now,
            )
            for (
                pk,
                member_id,
                campaign_id,
                variant_id,
                channel,
                occurrence,
                budget_taken,
                attempts,
            ) in cursor.fetchall()
        ]
    if not rows:
        return []
    states = dict(
        Campaign.objects.filter(pk__in={r.campaign_id for r in rows}).values_list("pk", "status")
    )
    stopped = [r for r in rows if states.get(r.campaign_id) != Campaign.Status.SENDING]
    if stopped:
        cancelled = [
            r.pk for r in stopped if states.get(r.campaign_id) == Campaign.Status.CANCELLED
        ]
        _set_status(cancelled, now, status=Delivery.Status.CANCELLED, reason="campaign_cancelled")
        _set_status(
            [r.pk for r in stopped if r.pk not in set(cancelled)],
            now,
            status=Delivery.Status.PENDING,
        )
        rows = [r for r in rows if states.get(r.campaign_id) == Campaign.Status.SENDING]
    return sorted(rows, key=lambda r: (r.member_id, r.pk))


# Columns the send path may set on a claimed row (fixed identifiers, never from input).
_SETTABLE = frozenset({"status", "reason", "budget_taken", "not_before", "queued_at"})


def _set_status(ids: list[int], claim: datetime.datetime, **values: Any) -> int:
    """Update claimed rows, only where this task's claim still holds."""
    if not ids:
        return 0
    assert set(values) <= _SETTABLE
    assignments = ", ".join(f"{name} = %s" for name in values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Delivery._meta.db_table} SET {assignments} "  # noqa: S608 - fixed names
            "WHERE id = ANY(%s) AND status = 'sending' AND claimed_at = %s",
            [*values.values(), ids, claim],
        )
        return int(cursor.rowcount)


def deliveries_send(
    *, delivery_ids: list[int], now: datetime.datetime | None = None
) -> dict[str, int]:
    """Claim, check, send and record a batch of deliveries. Returns counts by outcome."""
    now = now or timezone.now()
    rows = _claim(list(delivery_ids), now)
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
                member_ids=[r.member_id for r in allowed if not r.budget_taken],
                rank=Rank(campaign_id=campaign.pk, priority=campaign.priority),
                at=now,
            )
            taken = []
            for row in allowed:
                result = "ok" if row.budget_taken else outcome.get(row.member_id, "ok")
                if result == "ok":
                    to_send.append(row)
                    if not row.budget_taken:
                        taken.append(row.pk)
                else:
                    suppressed[result].append(row)
            fallbacks: list[Delivery] = []
            for reason, items in suppressed.items():
                n = _set_status(
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
                transaction.on_commit(lambda: _queue_sends(next_ids))
            if to_send and not self.channel.external:
                # A channel that only writes to this database (the inbox, no-op) sends in
                # the transaction that takes the budget: both commit, or neither.
                for name, n in self._deliver(to_send, claim).items():
                    counts[name] += n
                to_send = []
            else:
                # The budget is taken now, for good: a re-send after a crash must not take
                # it again.
                _set_status(taken, claim, budget_taken=True)
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
                counts["failed"] += _set_status(
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
                counts[_retry(row, claim, now, str(error))] += 1
                continue
            except PermanentError as error:
                counts["failed"] += _set_status(
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
        return _mark_sent(rows, claim, self.now, refs, variants=self.variants)


def _retry(row: Claimed, claim: datetime.datetime, now: datetime.datetime, error: str) -> str:
    if row.attempts >= settings.CAMPAIGNS_MAX_ATTEMPTS:
        _set_status([row.pk], claim, status=Delivery.Status.FAILED, reason="provider_error")
        logger.warning("delivery %s failed for good: %s", row.pk, error)
        return "failed"
    backoff = min(30 * 2 ** max(row.attempts - 1, 0), 3600)
    _set_status(
        [row.pk],
        claim,
        status=Delivery.Status.PENDING,
        reason="retry",
        not_before=now + datetime.timedelta(seconds=backoff),
        queued_at=None,
    )
    return "retry"


def _mark_sent(
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
    offer_of = {pk: v.offer_id for pk, v in variants.items() if v.offer_id is not None}
    offers = [
        MemberOffer(
            member_id=r.member_id,
            offer_id=offer_of[r.variant_id],
            campaign_id=r.campaign_id,
            delivery_id=r.pk,
            created_at=now,
        )
        for r in done
        if r.variant_id is not None and r.variant_id in offer_of
    ]
    if offers:
        MemberOffer.objects.bulk_create(offers, ignore_conflicts=True)
    return len(done)


def deliveries_sweep(
    *, now: datetime.datetime | None = None, stuck_seconds: int | None = None, limit: int = 50_000
) -> dict[str, int]:
    """Beat: re-queue what a broker restart lost or a killed worker left behind.

    - pending rows and fan-out chunks queued before the broker's current epoch
      (``broker.epoch_start``: the broker restarted since, so their tasks are gone), never
      queued (the broker was away), queued long ago, or whose retry time has come;
    - "sending" rows whose claim is older than ``stuck_seconds`` (their worker died) go back
      to pending (their budget stays taken) and are queued again; a late original finds its
      claim gone and does not mark them;
    - and campaigns with nothing left are finished.
    """
    now = now or timezone.now()
    stale = now - datetime.timedelta(seconds=stuck_seconds or settings.CAMPAIGNS_STUCK_SECONDS)
    epoch = broker.epoch_start(now)
    # Queued before this, a task is presumed lost: the broker's epoch start once it restarted
    # (a restart loses every queued task at once), else the stuck limit.
    lost_before = max(stale, epoch) if epoch is not None else stale
    # What this sweep queues is dated no earlier than the epoch's start, so that the next
    # sweep does not count it lost again.
    stamp = max(now, epoch) if epoch is not None else now
    table = Delivery._meta.db_table
    # Rows a worker holds right now are being handled, not lost: the sweep skips them
    # (SKIP LOCKED) rather than wait, so it never waits on a worker that waits on it (a
    # deadlock between two many-row UPDATEs taking rows in different orders).
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = 'pending', queued_at = %s WHERE id IN ("  # noqa: S608
            f"SELECT id FROM {table} WHERE status = 'sending' AND claimed_at < %s LIMIT %s "
            "FOR UPDATE SKIP LOCKED) RETURNING id",
            [stamp, stale, limit],
        )
        unstuck = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            f"UPDATE {table} SET queued_at = %s WHERE id IN ("  # noqa: S608
            f"SELECT d.id FROM {table} AS d JOIN campaigns_campaign AS c ON c.id = d.campaign_id "
            "WHERE d.status = 'pending' AND c.status = 'sending' "
            "AND (d.not_before IS NULL OR d.not_before <= %s) "
            "AND (d.queued_at IS NULL OR d.queued_at < %s) LIMIT %s "
            "FOR UPDATE OF d SKIP LOCKED) RETURNING id",
            [stamp, now, lost_before, limit],
        )
        lost = [row[0] for row in cursor.fetchall()]
    chunks = list(
        FanoutChunk.objects.filter(
            done_at__isnull=True,
            queued_at__lt=lost_before,
            campaign__status=Campaign.Status.SENDING,
        ).values_list("pk", flat=True)
    )
    FanoutChunk.objects.filter(pk__in=chunks).update(queued_at=stamp)
    _queue_chunks(chunks)
    _queue_sends(sorted(unstuck + lost))
    finished = 0
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.SENDING).values_list(
        "pk", flat=True
    ):
        finished += campaign_finish_if_done(campaign_id=campaign_id)
    return {
        "unstuck": len(unstuck),
        "requeued": len(lost),
        "chunks": len(chunks),
        "finished": finished,
        "broker_restarted": int(epoch is not None and epoch > stale),
    }


# --- tracking and member actions ---------------------------------------------------------------


def delivery_opened(*, token: str) -> None:
    """The open pixel: record the first open. Bad tokens are ignored (it is an image)."""
    try:
        delivery_id = signing.loads(token, salt=rendering.OPEN_SALT)
    except signing.BadSignature:
        return
    Delivery.objects.filter(pk=delivery_id, opened_at__isnull=True).update(opened_at=timezone.now())


def delivery_clicked(*, token: str) -> str:
    """A tracked link: record the first click (and the open it implies); return the target."""
    try:
        delivery_id, url = signing.loads(token, salt=rendering.CLICK_SALT)
    except (signing.BadSignature, ValueError, TypeError) as error:
        raise NotFoundError() from error
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise NotFoundError()
    now = timezone.now()
    Delivery.objects.filter(pk=delivery_id, clicked_at__isnull=True).update(clicked_at=now)
    Delivery.objects.filter(pk=delivery_id, opened_at__isnull=True).update(opened_at=now)
    return url


def offer_activate(
    *, member: Member, member_offer_id: int, now: datetime.datetime | None = None
) -> MemberOffer:
    """ "Aktivera" / "Hämta": a bonus offer starts counting at the till and in the web shop;
    a reward offer issues its voucher or invitation ticket as a gift (``reward_grant``: no
    points, but stock, the per-member limit, validity and the tier rule apply).

    A refusal (sold out, tier, limit, unknown reward) raises and changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        # Lock first: a double tap must not activate twice (or restart the period), nor
        # issue a second voucher (the grant's idempotency key is a second guard).
        item = (
            MemberOffer.objects.select_for_update()
            .select_related("offer")
            .filter(pk=member_offer_id, member=member)
            .first()
        )
        if item is None:
            raise NotFoundError()
        if not item.offer.needs_activation or item.status != MemberOffer.Status.AVAILABLE:
            raise OfferNotActivatableError(
                _("This offer is already active or needs no activation.")
            )
        data: dict[str, Any] = {"offer_id": item.offer_id, "campaign_id": item.campaign_id}
        if item.offer.kind == Offer.Kind.REWARD:
            voucher = _offer_reward_grant(member=member, item=item)
            item.active_until = voucher.valid_until
            data["voucher_id"] = voucher.pk
        else:
            item.active_until = now + datetime.timedelta(days=item.offer.bonus_days)
        item.status = MemberOffer.Status.ACTIVE
        item.activated_at = now
        item.save(update_fields=["status", "activated_at", "active_until"])
        if item.delivery_id:
            Delivery.objects.filter(pk=item.delivery_id, activated_at__isnull=True).update(
                activated_at=now
            )
        activity_record(
            member=member,
            kind=Kind.OFFER_ACTIVATED,
            data=data,
            source="web",
            actor=member.user,
        )
    return item


def _offer_reward_grant(*, member: Member, item: MemberOffer) -> Any:
    """Issue the reward offer's voucher; the key ties the voucher to this member offer."""
    from rewards.loyalty.catalogue import RewardNotAvailableError, reward_grant
    from rewards.models import Reward

    reward = Reward.objects.filter(code=item.offer.reward_code).first()
    if reward is None:  # the reward was renamed or removed after the offer was saved
        raise RewardNotAvailableError()
    return reward_grant(
        member=member,
        reward=reward,
        idempotency_key=REWARD_OFFER_KEY.format(item.pk),
        source="campaign",
        actor=member.user,
    )


def offer_voucher_used_record(event: ActivityEvent) -> None:
    """Timeline consumer for used vouchers: a voucher issued by a reward offer marks that
    offer used and its delivery redeemed (first time only; safe to run twice)."""
    voucher_id = (event.data or {}).get("voucher_id")
    if not voucher_id:
        return
    from rewards.models import Voucher

    claim_key = (
        Voucher.objects.filter(pk=voucher_id, member_id=event.member_id)
        .values_list("claim_key", flat=True)
        .first()
    )
    prefix = "grant:" + REWARD_OFFER_KEY.format("")
    if not claim_key or not claim_key.startswith(prefix):
        return
    member_offer_id = claim_key.removeprefix(prefix)
    if not member_offer_id.isdigit():
        return
    item = MemberOffer.objects.filter(pk=int(member_offer_id), member_id=event.member_id).first()
    if item is None:
        return
    MemberOffer.objects.filter(pk=item.pk, status=MemberOffer.Status.ACTIVE).update(
        status=MemberOffer.Status.USED
    )
    if item.delivery_id:
        Delivery.objects.filter(pk=item.delivery_id, redeemed_at__isnull=True).update(
            redeemed_at=event.created_at
        )


def offer_redemptions_record(event: ActivityEvent) -> None:
    """Timeline consumer for purchases: a purchase with a line the member's active bonus
    offer covers marks that offer's delivery redeemed (first time only)."""
    purchase_id = (event.data or {}).get("purchase_id")
    if not purchase_id:
        return
    from rewards.models import PurchaseLine

    active = list(
        MemberOffer.objects.filter(
            member_id=event.member_id,
            status=MemberOffer.Status.ACTIVE,
            active_until__gt=event.created_at,
            # Reward offers are redeemed when their voucher is used, not by a purchase.
            offer__kind=Offer.Kind.BONUS_POINTS,
        ).select_related("offer")
    )
    if not active:
        return
    lines = list(
        PurchaseLine.objects.filter(purchase_id=purchase_id).values_list(
            "product_id", "category_id"
        )
    )
    for item in active:
        offer = item.offer
        if (
            any(
                (offer.product_id is None or offer.product_id == product)
                and (offer.category_id is None or offer.category_id == category)
                for product, category in lines
            )
            and item.delivery_id
        ):
            Delivery.objects.filter(pk=item.delivery_id, redeemed_at__isnull=True).update(
                redeemed_at=event.created_at
            )


# --- triggers ---------------------------------------------------------------------------------

EVENT_TRIGGERS = {
    str(Kind.JOINED): Campaign.Trigger.JOINED,
    str(Kind.TIER_CHANGED): Campaign.Trigger.TIER_CHANGED,
    str(Kind.CHECKED_IN): Campaign.Trigger.CHECKED_IN,
}


def _trigger_insert(
    campaign: Campaign, members: Any, occurrence: str, now: datetime.datetime
) -> list[int]:
    variants = list(campaign.variants.order_by("code"))
    if not variants or not campaign.channels:
        return []
    fanout.insert_deliveries(
        campaign=campaign,
        members=members,
        variants=variants,
        channel=campaign.channels[0],
        occurrence=occurrence,
        now=now,
    )
    return list(
        Delivery.objects.filter(
            campaign=campaign, occurrence=occurrence, status=Delivery.Status.PENDING
        ).values_list("pk", flat=True)
    )


def trigger_event_handle(event: ActivityEvent) -> None:
    """Timeline consumer: send every active campaign triggered by this kind of event to the
    member, once per event (the occurrence is the event id)."""
    trigger = EVENT_TRIGGERS.get(event.kind)
    if trigger is None:
        return
    now = timezone.now()
    for campaign in Campaign.objects.filter(
        status=Campaign.Status.SENDING,
        schedule_kind=Campaign.ScheduleKind.TRIGGER,
        trigger=trigger,
    ).select_related("segment"):
        members = fanout.audience(campaign).filter(pk=event.member_id)
        ids = _trigger_insert(campaign, members, f"event-{event.pk}", now)
        if ids:
            transaction.on_commit(partial(_queue_sends, ids))


def triggers_daily(*, now: datetime.datetime | None = None) -> int:
    """Beat, daily: birthdays today, members whose last purchase was exactly N days ago, and
    members with points expiring in exactly N days. Each fires once (dated occurrence)."""
    from rewards.models import PointLot, Purchase

    now = now or timezone.now()
    today = timezone.localtime(now).date()
    queued = 0
    for campaign in Campaign.objects.filter(
        status=Campaign.Status.SENDING, schedule_kind=Campaign.ScheduleKind.TRIGGER
    ).select_related("segment"):
        members = fanout.audience(campaign)
        days = campaign.trigger_days or 30
        if campaign.trigger == Campaign.Trigger.BIRTHDAY:
            members = members.filter(birth_date__month=today.month, birth_date__day=today.day)
            occurrence = f"birthday-{today.year}"
        elif campaign.trigger == Campaign.Trigger.LAPSED:
            day = today - datetime.timedelta(days=days)
            latest = Purchase.objects.filter(member=OuterRef("pk")).order_by("-purchased_at")
            members = members.annotate(last=latest.values("purchased_at")[:1]).filter(
                last__date=day
            )
            occurrence = f"lapsed-{today.isoformat()}"
        elif campaign.trigger == Campaign.Trigger.POINTS_EXPIRING:
            day = today + datetime.timedelta(days=days)
            members = members.filter(
                Exists(
                    PointLot.objects.filter(
                        member=OuterRef("pk"), remaining__gt=0, expires_at__date=day
                    )
                )
            )
            occurrence = f"expiring-{today.isoformat()}"
        else:
            continue
        with transaction.atomic():
            ids = _trigger_insert(campaign, members, occurrence, now)
            transaction.on_commit(partial(_queue_sends, ids))
        queued += len(ids)
    return queued
