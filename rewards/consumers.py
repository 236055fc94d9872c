"""How rewards reacts to the member timeline and extends the members app's summary."""

from __future__ import annotations

from typing import Any

from members.activity import Kind
from members.models import ActivityEvent, Member
from rewards.ledger.snapshots import balance_snapshot
from rewards.models import EventRule, MemberTier, PointBalance
from rewards.rules.events import event_points_award


def member_summary_points(member: Member) -> dict[str, Any]:
    """The identify endpoint's tier and balance."""
    member_tier = MemberTier.objects.filter(member=member).select_related("tier").first()
    tier = None
    if member_tier is not None:
        tier = {
            "code": member_tier.tier.code,
            "name": member_tier.tier.name_for(member.preferred_language),
        }
    balance = PointBalance.objects.filter(member=member).first()
    return {"tier": tier, "points": balance_snapshot(balance)}


def _profile_complete(member: Member) -> bool:
    return bool(member.first_name and member.last_name and member.phone and member.birth_date)


def event_points_from_activity(event: ActivityEvent) -> None:
    """Award event rules for timeline events; the event id makes each award happen once."""
    member = event.member
    if event.kind == Kind.JOINED:
        event_points_award(
            member=member, event=EventRule.Event.JOINED, idempotency_key=f"activity:{event.pk}"
        )
    elif event.kind == Kind.PROFILE_UPDATED:
        if _profile_complete(member):
            # Once per member, however often the profile is edited afterwards.
            event_points_award(
                member=member,
                event=EventRule.Event.PROFILE_COMPLETED,
                idempotency_key=f"profile_completed:{member.pk}",
            )
    elif event.kind == Kind.INTERESTS_CHANGED:
        # Told us what they like: a change that adds at least one interest. The rule's cap
        # (1 ever in the demo), counted under the member's balance lock, makes it the first
        # time only, however often or concurrently the interests are saved.
        if (event.data or {}).get("added"):
            event_points_award(
                member=member,
                event=EventRule.Event.INTERESTS_TOLD,
                idempotency_key=f"activity:{event.pk}",
            )
    elif event.kind == Kind.REVIEW_APPROVED:
        # A review earns the "review" rule; an approved social-media post "social share".
        social = (event.data or {}).get("kind") == "social"
        event_points_award(
            member=member,
            event=EventRule.Event.SOCIAL_SHARE if social else EventRule.Event.REVIEW,
            idempotency_key=f"activity:{event.pk}",
        )
    elif event.kind == Kind.REFERRAL_COMPLETED:
        # Recorded on the referred member after their first purchase, with the referrer's id.
        event_points_award(
            member=member,
            event=EventRule.Event.REFERRAL,
            idempotency_key=f"activity:{event.pk}:referred",
            role=EventRule.Beneficiary.REFERRED,
        )
        referrer_id = (event.data or {}).get("referrer_id")
        referrer = Member.objects.filter(pk=referrer_id).first() if referrer_id else None
        if referrer is not None:
            event_points_award(
                member=referrer,
                event=EventRule.Event.REFERRAL,
                idempotency_key=f"activity:{event.pk}:referrer",
                role=EventRule.Beneficiary.REFERRER,
            )
