"""campaigns' part of a merge of two members (members.merging; docs/campaigns.md "Merged
members"), registered from ``CampaignsConfig.ready`` with order 40, after rewards.

Runs inside ``member_merge``'s transaction with both member rows locked.

- Deliveries are unique per (campaign, occurrence, member, channel). The merged member's
  deliveries move to the survivor, except where the survivor has one of its own for the same
  campaign, occurrence and channel: that one stays on the tombstone as the record of what was
  sent, and if it was not sent yet it is cancelled (reason ``merged``), so one person never
  gets a message twice. A moved pending delivery is sent to the survivor, through the
  survivor's consent at the moment of sending.
- Offers (unique per member, offer and campaign) move; one both had is kept once, on the
  survivor, with the furthest status (used, then active, then available), the earlier
  activation and the later end; the merged member's row is then deleted.
- Inbox messages move. Contact budgets add up per week (the person got both members'
  messages). Static segment lists keep the survivor once. Recommendations (next best offers)
  move when the survivor has none, and are otherwise dropped: the nightly job recomputes
  them from the combined purchases.
- A tombstone is never in an audience (``campaigns.sending.audience``: ``merged_into`` null).
"""

from __future__ import annotations

from django.db.models import F

from campaigns.models import (
    ContactBudget,
    Delivery,
    InboxMessage,
    MemberOffer,
    MemberRecommendation,
    SegmentMember,
)
from members.models import Member

# Relations to Member that a merge leaves (in part) on the tombstone, and why.
STAYS: dict[str, str] = {
    "campaigns.Delivery.member": (
        "deliveries move (campaigns.deliveries), but one of a campaign the survivor got on the "
        "same channel stays as the record of what was sent, cancelled (reason merged) if it "
        "was not sent yet, so one person never gets a message twice"
    ),
}

# The reason a delivery cancelled by a merge carries (docs/campaigns.md, reason codes).
REASON_MERGED = "merged"

_OFFER_STATUS_RANK: dict[str, int] = {
    MemberOffer.Status.AVAILABLE: 0,
    MemberOffer.Status.ACTIVE: 1,
    MemberOffer.Status.USED: 2,
}


def campaigns_merge(survivor: Member, merged: Member) -> dict[str, int]:
    """Move the merged member's deliveries, offers, inbox, budgets, list memberships and
    recommendations to the survivor. Returns the counts: a relation moved whole under
    ``"campaigns.<Model>.<field>"`` (members.merging's model-graph check), deliveries under
    ``"campaigns.deliveries"`` and ``"campaigns.deliveries_kept_on_merged"``."""
    deliveries, kept = _deliveries_move(survivor, merged)
    return {
        "campaigns.deliveries": deliveries,
        "campaigns.deliveries_kept_on_merged": kept,
        "campaigns.MemberOffer.member": _offers_move(survivor, merged),
        "campaigns.InboxMessage.member": InboxMessage.objects.filter(member=merged).update(
            member=survivor
        ),
        "campaigns.ContactBudget.member": _budgets_add(survivor, merged),
        "campaigns.SegmentMember.member": _segment_members_move(survivor, merged),
        "campaigns.MemberRecommendation.member": _recommendations_move(survivor, merged),
    }


def _deliveries_move(survivor: Member, merged: Member) -> tuple[int, int]:
    taken = set(
        Delivery.objects.filter(member=survivor).values_list("campaign_id", "occurrence", "channel")
    )
    moving: list[int] = []
    staying: list[int] = []
    for pk, campaign_id, occurrence, channel in (
        Delivery.objects.select_for_update()
        .filter(member=merged)
        .order_by("pk")
        .values_list("pk", "campaign_id", "occurrence", "channel")
    ):
        (staying if (campaign_id, occurrence, channel) in taken else moving).append(pk)
    Delivery.objects.filter(pk__in=moving).update(member=survivor)
    # Not sent yet, and the survivor gets the same message: never twice to one person.
    Delivery.objects.filter(
        pk__in=staying, status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]
    ).update(status=Delivery.Status.CANCELLED, reason=REASON_MERGED)
    return len(moving), len(staying)


def _offers_move(survivor: Member, merged: Member) -> int:
    mine = {
        (row.offer_id, row.campaign_id): row for row in MemberOffer.objects.filter(member=survivor)
    }
    moved = 0
    for row in MemberOffer.objects.filter(member=merged).order_by("pk"):
        kept = mine.get((row.offer_id, row.campaign_id))
        moved += 1
        if kept is None:
            MemberOffer.objects.filter(pk=row.pk).update(member=survivor)
            continue
        further = max(kept, row, key=lambda offer: _OFFER_STATUS_RANK.get(offer.status, 0))
        activations = [t for t in (kept.activated_at, row.activated_at) if t is not None]
        ends = [t for t in (kept.active_until, row.active_until) if t is not None]
        MemberOffer.objects.filter(pk=kept.pk).update(
            status=further.status,
            activated_at=min(activations) if activations else None,
            active_until=max(ends) if ends else None,
            delivery_id=kept.delivery_id or row.delivery_id,
        )
        row.delete()
    return moved


def _budgets_add(survivor: Member, merged: Member) -> int:
    mine = {row.week: row for row in ContactBudget.objects.filter(member=survivor)}
    moved = 0
    for row in ContactBudget.objects.filter(member=merged).order_by("pk"):
        kept = mine.get(row.week)
        if kept is None:
            ContactBudget.objects.filter(pk=row.pk).update(member=survivor)
        else:
            ContactBudget.objects.filter(pk=kept.pk).update(used=F("used") + row.used)
            row.delete()
        moved += 1
    return moved


def _segment_members_move(survivor: Member, merged: Member) -> int:
    lists = set(SegmentMember.objects.filter(member=survivor).values_list("segment_id", flat=True))
    SegmentMember.objects.filter(member=merged, segment_id__in=lists).delete()
    return SegmentMember.objects.filter(member=merged).update(member=survivor)


def _recommendations_move(survivor: Member, merged: Member) -> int:
    if MemberRecommendation.objects.filter(member=survivor).exists():
        MemberRecommendation.objects.filter(member=merged).delete()
        return 0
    return MemberRecommendation.objects.filter(member=merged).update(member=survivor)


def register() -> None:
    """From ``CampaignsConfig.ready``: the step, and what it leaves on the tombstone."""
    from members.merging import merge_stays_register, merge_step_register

    merge_step_register(name="campaigns", run=campaigns_merge, order=40)
    merge_stays_register(STAYS)
