"""Writes of what marketers author: segments, offers, campaigns and their variants; launch,
cancel and test sends."""

from __future__ import annotations

import csv
import datetime
import io
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models.functions import Coalesce
from django.template import TemplateSyntaxError
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.errors import CampaignInvalidError, CampaignStateError
from campaigns.models import (
    Campaign,
    Delivery,
    FanoutChunk,
    Offer,
    Segment,
    SegmentMember,
    Variant,
)
from campaigns.segments import criteria_validate
from campaigns.sending import broker, rendering
from campaigns.sending.channels import (
    CHANNELS,
)
from campaigns.sending.fanout import (
    campaign_task,
)
from members.models import Member, User
from rewards.models import Reward


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
    # A merged member's number names the member it was merged into (members.merging
    # points every tombstone straight at its survivor: one hop).
    by_number = dict(
        Member.objects.filter(membership_number__in=numbers, erased_at__isnull=True).values_list(
            "membership_number", Coalesce("merged_into_id", "pk")
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

    if not Reward.objects.filter(code=reward_code).exists():
        raise ValidationError(
            {
                "reward_code": _("No reward in the catalogue has the code “%(code)s”.")
                % {"code": reward_code}
            }
        )


def draft_lock(campaign: Campaign) -> Campaign:
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
            draft_lock(campaign)
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
        draft_lock(campaign)
        variant.save()
    return variant


def variant_delete(*, campaign: Campaign, variant_id: int) -> None:
    """Remove a variant from a draft campaign (not once it has been launched)."""
    with transaction.atomic():
        draft_lock(campaign)
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
            transaction.on_commit(
                lambda: broker.publish(campaign_task("campaign_start"), campaign_id)
            )
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
