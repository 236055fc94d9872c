"""Offers in the member's hands: activation, and redemptions seen on the timeline."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.errors import OfferExpiredError, OfferNotActivatableError
from campaigns.models import (
    Delivery,
    MemberOffer,
    Offer,
)
from campaigns.selectors import REWARD_OFFER_KEY
from members.activity import Kind, activity_record
from members.errors import NotFoundError
from members.formats import date_short
from members.models import ActivityEvent, Member, User
from rewards.errors import RewardNotAvailableError
from rewards.loyalty.catalogue import reward_grant
from rewards.models import PurchaseLine, Reward, Voucher


def offer_activate(
    *,
    member: Member,
    member_offer_id: int,
    now: datetime.datetime | None = None,
    staff: User | None = None,
) -> MemberOffer:
    """ "Aktivera" / "Hämta": a bonus offer starts counting at the till and in the web shop;
    a reward offer issues its voucher or invitation ticket as a gift (``reward_grant``: no
    points, but stock, the per-member limit, validity and the tier rule apply).

    By the member on their pages, or by ``staff`` at the desk for the member in the store
    (then the timeline names the staff member, and the source is the desk).

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
        if item.available_until is not None and now > item.available_until:
            raise OfferExpiredError(
                _("This offer could be activated until %(date)s. It has expired.")
                % {"date": date_short(item.available_until)}
            )
        data: dict[str, Any] = {"offer_id": item.offer_id, "campaign_id": item.campaign_id}
        if item.offer.kind == Offer.Kind.REWARD:
            voucher = _offer_reward_grant(member=member, item=item, staff=staff)
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
            source="desk" if staff is not None else "web",
            actor=staff or member.user,
        )
    return item


def _offer_reward_grant(*, member: Member, item: MemberOffer, staff: User | None) -> Any:
    """Issue the reward offer's voucher; the key ties the voucher to this member offer."""
    reward = Reward.objects.filter(code=item.offer.reward_code).first()
    if reward is None:  # the reward was renamed or removed after the offer was saved
        raise RewardNotAvailableError()
    return reward_grant(
        member=member,
        reward=reward,
        idempotency_key=REWARD_OFFER_KEY.format(item.pk),
        source="campaign",
        actor=staff or member.user,
    )


def offer_voucher_used_record(event: ActivityEvent) -> None:
    """Timeline consumer for used vouchers: a voucher issued by a reward offer marks that
    offer used and its delivery redeemed (first time only; safe to run twice)."""
    voucher_id = (event.data or {}).get("voucher_id")
    if not voucher_id:
        return

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
