"""Celery beat jobs for the ledger: each calls one idempotent service."""

from __future__ import annotations

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from members.models import Member
from rewards.ledger import expiry, reservations
from rewards.loyalty import catalogue, tiers
from rewards.models import EventRule
from rewards.rules.events import event_points_award


@shared_task(acks_late=True)
def points_mature_due() -> int:
    return expiry.points_mature_due()


@shared_task(acks_late=True)
def points_expire_due() -> int:
    return expiry.points_expire_due()


@shared_task(acks_late=True)
def reservations_timeout() -> int:
    return reservations.reservations_timeout()


@shared_task(acks_late=True)
def birthday_points_award() -> int:
    """Birthday points for members whose birthday is today (Stockholm); once a year each."""
    if not EventRule.objects.filter(event=EventRule.Event.BIRTHDAY, active=True).exists():
        return 0
    today = timezone.localdate()
    query = Q(birth_date__month=today.month, birth_date__day=today.day)
    if today.month == 3 and today.day == 1:  # 29 February birthdays, in common years
        query |= Q(birth_date__month=2, birth_date__day=29)
    awarded = 0
    for member in Member.objects.filter(query, erased_at__isnull=True).iterator():
        entries = event_points_award(
            member=member,
            event=EventRule.Event.BIRTHDAY,
            idempotency_key=f"birthday:{member.pk}:{today.year}",
        )
        awarded += len(entries)
    return awarded


@shared_task(acks_late=True)
def tiers_reevaluate() -> int:
    """Nightly: upgrades missed, grace periods started or ended (docs/rewards.md)."""
    return tiers.tiers_reevaluate()


@shared_task(acks_late=True)
def waitlist_promote(reward_id: int) -> int:
    """A ticket was cancelled: offer the place to the waiting list."""
    return catalogue.waitlist_promote(reward_id=reward_id)
