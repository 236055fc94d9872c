"""Contact preferences, marketing pauses, interests and partner shares."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from consent.errors import ConsentMissingError
from consent.lock_objects import member_lock, purpose_get
from consent.models import (
    ConsentEvent,
    ConsentState,
    ContactPreferences,
    Interest,
    MemberInterest,
    PartnerShare,
    Purpose,
)
from members.activity import Kind, activity_record
from members.models import ActivityEvent, Member, User

Source = ConsentEvent.Source


def contact_preferences_update(
    *,
    member: Member,
    max_messages_per_week: int | None,
    quiet_start: datetime.time | None,
    quiet_end: datetime.time | None,
    actor: User | None,
    source: str = "web",
) -> ContactPreferences:
    """Set the weekly limit and quiet hours (both ends, or neither)."""
    errors: dict[str, str] = {}
    if max_messages_per_week is not None and max_messages_per_week < 1:
        errors["max_messages_per_week"] = _("Choose at least one message a week, or no limit.")
    if (quiet_start is None) != (quiet_end is None):
        errors["quiet_end"] = _("Give both the start and the end of your quiet hours.")
    elif quiet_start is not None and quiet_start == quiet_end:
        errors["quiet_end"] = _("The quiet hours must end at another time than they start.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = member_lock(member)
        prefs, _created = ContactPreferences.objects.select_for_update().get_or_create(
            member=locked
        )
        prefs.max_messages_per_week = max_messages_per_week
        prefs.quiet_start = quiet_start
        prefs.quiet_end = quiet_end
        prefs.updated_at = timezone.now()
        prefs.save()
        activity_record(
            member=locked,
            kind=Kind.PREFERENCES_CHANGED,
            data={
                "max_messages_per_week": max_messages_per_week,
                "quiet_hours": bool(quiet_start),
            },
            source=source,
            actor=actor,
        )
    return prefs


def marketing_pause(
    *, member: Member, actor: User | None, days: int | None = None, source: str = "web"
) -> ContactPreferences:
    """Pause every message the member opted into for ``days`` (default 30)."""
    days = days or settings.CONSENT_PAUSE_DAYS
    with transaction.atomic():
        locked = member_lock(member)
        prefs, _created = ContactPreferences.objects.select_for_update().get_or_create(
            member=locked
        )
        prefs.paused_until = timezone.now() + datetime.timedelta(days=days)
        prefs.updated_at = timezone.now()
        prefs.save(update_fields=["paused_until", "updated_at"])
        activity_record(
            member=locked,
            kind=Kind.PREFERENCES_CHANGED,
            data={"paused_days": days},
            source=source,
            actor=actor,
        )
    return prefs


def marketing_resume(*, member: Member, actor: User | None, source: str = "web") -> None:
    with transaction.atomic():
        locked = member_lock(member)
        changed = ContactPreferences.objects.filter(
            member=locked, paused_until__isnull=False
        ).update(paused_until=None, updated_at=timezone.now())
        if changed:
            activity_record(
                member=locked,
                kind=Kind.PREFERENCES_CHANGED,
                data={"paused_days": 0},
                source=source,
                actor=actor,
            )


def interests_set(
    *, member: Member, interest_ids: Iterable[int], actor: User | None, source: str = "web"
) -> set[int]:
    """Replace the member's interests with ``interest_ids`` (active interests only)."""
    wanted = set(interest_ids)
    valid = set(Interest.objects.filter(pk__in=wanted, active=True).values_list("pk", flat=True))
    if wanted - valid:
        raise ValidationError({"interests": _("Choose from the list.")})
    with transaction.atomic():
        locked = member_lock(member)
        current = set(
            MemberInterest.objects.filter(member=locked).values_list("interest_id", flat=True)
        )
        added, removed = wanted - current, current - wanted
        if not added and not removed:
            return current
        MemberInterest.objects.filter(member=locked, interest_id__in=removed).delete()
        MemberInterest.objects.bulk_create(
            [MemberInterest(member=locked, interest_id=pk) for pk in sorted(added)]
        )
        codes = dict(Interest.objects.filter(pk__in=added | removed).values_list("pk", "code"))
        activity_record(
            member=locked,
            kind=Kind.INTERESTS_CHANGED,
            data={
                "added": sorted(codes[pk] for pk in added),
                "removed": sorted(codes[pk] for pk in removed),
            },
            source=source,
            actor=actor,
        )
    return wanted


def interests_step_offered(*, member: Member, actor: User | None, source: str = "web") -> bool:
    """Remember that the member was shown "Vad gillar du?" (``consent.interests_step``), once:
    True the first time. The member row is locked first, so two tabs opening the step at once
    record it once."""
    with transaction.atomic():
        locked = member_lock(member)
        if ActivityEvent.objects.filter(member=locked, kind=Kind.INTERESTS_ASKED).exists():
            return False
        activity_record(
            member=locked, kind=Kind.INTERESTS_ASKED, data={}, source=source, actor=actor
        )
    return True


def partner_share_record(
    *,
    member: Member,
    purpose: Purpose | str,
    data_categories: list[str],
    reference: str = "",
) -> PartnerShare:
    """Record that data went to a partner. Refuses unless the member agreed to that partner."""
    purpose_obj = purpose_get(purpose)
    if purpose_obj.category != Purpose.Category.PARTNER:
        raise ValidationError({"purpose": _("Not a partner purpose.")})
    with transaction.atomic():
        locked = member_lock(member)
        granted = ConsentState.objects.filter(
            member=locked, purpose=purpose_obj, granted=True
        ).exists()
        if not granted:
            raise ConsentMissingError()
        return PartnerShare.objects.create(
            member=locked,
            purpose=purpose_obj,
            data_categories=sorted(set(data_categories)),
            reference=reference[:100],
        )
