"""Rewards state built through the services, as a till or staff member would."""

from __future__ import annotations

import datetime
import itertools
import uuid
from decimal import Decimal
from typing import Any

from django.utils import timezone

from members.models import Member, Store
from rewards.ledger.points import points_earn
from rewards.models import EarningRule, EventRule, LedgerEntry
from rewards.purchases.recording import purchase_record
from rewards.purchases.types import LineInput, PurchaseResult
from rewards.rules.earning import rules_cache_clear

_receipts = itertools.count(1)


def base_rule(
    *, rate: str = "1", rounding: str = "down", min_purchase_ore: int = 0, **extra: Any
) -> EarningRule:
    rule = EarningRule.objects.create(
        kind=EarningRule.Kind.BASE,
        name_sv=extra.pop("name_sv", "1 p per krona"),
        name_en=extra.pop("name_en", "1 p per krona"),
        rate=Decimal(rate),
        rounding=rounding,
        min_purchase_ore=min_purchase_ore,
        **extra,
    )
    rules_cache_clear()
    return rule


def multiplier_rule(
    *, multiplier: str = "2", name_sv: str = "2x", name_en: str = "2x", **extra: Any
) -> EarningRule:
    rule = EarningRule.objects.create(
        kind=EarningRule.Kind.MULTIPLIER,
        name_sv=name_sv,
        name_en=name_en,
        multiplier=Decimal(multiplier),
        **extra,
    )
    rules_cache_clear()
    return rule


def exclusion_rule(**extra: Any) -> EarningRule:
    rule = EarningRule.objects.create(
        kind=EarningRule.Kind.EXCLUSION, name_sv="Undantag", name_en="Excluded", **extra
    )
    rules_cache_clear()
    return rule


def event_rule(
    *, event: str, points: int = 50, cap: int = 1, period: str = "ever", **extra: Any
) -> EventRule:
    return EventRule.objects.create(
        event=event,
        points=points,
        cap=cap,
        period=period,
        name_sv=extra.pop("name_sv", f"{event} sv"),
        name_en=extra.pop("name_en", f"{event} en"),
        **extra,
    )


def line(sku: str = "SKU-1", quantity: int = 1, price_ore: int = 10000, **extra: Any) -> LineInput:
    return LineInput(sku=sku, quantity=quantity, unit_price_ore=price_ore, **extra)


def purchase(
    *,
    store: Store,
    member: Member | None,
    lines: list[LineInput] | None = None,
    receipt_id: str | None = None,
    total_ore: int | None = None,
    purchased_at: datetime.datetime | None = None,
) -> PurchaseResult:
    lines = lines or [line()]
    return purchase_record(
        store=store,
        receipt_id=receipt_id or f"R{next(_receipts)}",
        member=member,
        total_ore=total_ore
        if total_ore is not None
        else sum(ln.quantity * ln.unit_price_ore - ln.discount_ore for ln in lines),
        purchased_at=purchased_at or timezone.now(),
        lines=lines,
    )


def earned(member: Member, points: int, *, pending_days: int = 0) -> LedgerEntry:
    """Points credited directly (as a campaign would), available at once by default."""
    return points_earn(
        member=member,
        points=points,
        cause=LedgerEntry.Cause.CAMPAIGN,
        idempotency_key=f"test-earn:{uuid.uuid4()}",
        explanation=[{"rule": None, "sv": "Kampanj", "en": "Campaign", "points": points}],
        pending_days=pending_days,
    )


# --- tiers, rewards, challenges (issue 5) ---------------------------------------------------


def tier(*, code: str, rank: int, threshold_points: int = 0, **extra: Any):
    from rewards.models import Tier

    return Tier.objects.create(
        code=code,
        rank=rank,
        name_sv=extra.pop("name_sv", code.capitalize()),
        name_en=extra.pop("name_en", code.capitalize()),
        threshold_points=threshold_points,
        **extra,
    )


def ladder() -> dict[str, Any]:
    """Bas (0), Silver (1,000), Guld (3,000), Platina (8,000 points earned in 12 months)."""
    return {
        "bas": tier(code="bas", rank=0, name_sv="Bas", name_en="Basic"),
        "silver": tier(code="silver", rank=1, threshold_points=1000, name_en="Silver"),
        "guld": tier(code="guld", rank=2, threshold_points=3000, name_en="Gold", benefit_picks=1),
        "platina": tier(code="platina", rank=3, threshold_points=8000, name_en="Platinum"),
    }


def reward(*, code: str | None = None, points_cost: int = 100, **extra: Any):
    from rewards.models import Reward

    code = code or f"reward-{next(_receipts)}"
    stock = extra.pop("stock", None)
    return Reward.objects.create(
        code=code,
        kind=extra.pop("kind", Reward.Kind.DISCOUNT_AMOUNT),
        name_sv=extra.pop("name_sv", f"{code} sv"),
        name_en=extra.pop("name_en", f"{code} en"),
        points_cost=points_cost,
        amount_off_ore=extra.pop("amount_off_ore", 5000),
        stock_total=stock,
        stock_left=stock,
        starts_at=extra.pop("starts_at", timezone.now() - datetime.timedelta(days=1)),
        **extra,
    )


def claim(member: Member, reward_obj: Any, key: str | None = None):
    from rewards.loyalty.catalogue import reward_claim

    return reward_claim(member=member, reward=reward_obj, idempotency_key=key or str(uuid.uuid4()))


def loyalty_referred(member: Member) -> None:
    """Before the member's first purchase: they joined with a friend's code (and a card)."""
    from rewards.loyalty.referrals import referral_code_for, referral_register
    from tests.factories.members import member_with_user

    friend = member_with_user(email="referrer.export@example.se")
    referral_register(
        referred=member, code=referral_code_for(member=friend).code, payment_identity="tok-1"
    )


def loyalty_data_with_every_field(member: Member, store: Store, staff: Any) -> None:
    """Tier history and grace, a chosen benefit, vouchers used, cancelled and from a partner
    pool, a waiting-list place, a completed challenge and badge, referrals both ways and
    moderated reviews: a value in every personal field of the loyalty models."""
    from rewards.loyalty import catalogue, challenges, referrals, reviews, tiers
    from rewards.models import Badge, Benefit, Challenge, MemberTier, Product, Purchase, Reward
    from tests.factories.members import member_with_user

    top = tier(code="x-top", rank=9, threshold_points=0, benefit_picks=1)
    purchase_id = Purchase.objects.filter(member=member).values_list("pk", flat=True).first()
    tiers.tier_evaluate(member_id=member.pk, reason="purchase", purchase_id=purchase_id)
    benefit = Benefit.objects.create(
        code="x-frakt", kind="free_delivery", name_sv="Fri frakt", name_en="Free", min_tier=top
    )
    tiers.benefit_choose(member=member, benefit_ids=[benefit.pk])
    type(top).objects.filter(pk=top.pk).update(threshold_points=10**9)
    tiers.tier_evaluate(member_id=member.pk)  # below the threshold: the grace clock starts
    assert MemberTier.objects.get(member=member).below_since is not None
    earned(member, 100)
    used = claim(member, reward(code="x-used", points_cost=10))
    catalogue.voucher_redeem(
        code=used.code, store=store, idempotency_key="x-r1", reference="basket-9"
    )
    catalogue.voucher_cancel(voucher_id=claim(member, reward(code="x-cancel", points_cost=10)).pk)
    partner = reward(code="x-partner", kind=Reward.Kind.PARTNER, points_cost=10)
    catalogue.partner_codes_upload(reward=partner, lines=["PARTNER-1"])
    claim(member, Reward.objects.get(pk=partner.pk))
    invitation = reward(code="x-event", kind=Reward.Kind.INVITATION, points_cost=0, stock=1)
    other = member_with_user(email="other.export@example.se")
    ticket = claim(other, invitation)
    catalogue.waitlist_join(member=member, reward=invitation)
    catalogue.voucher_cancel(voucher_id=ticket.pk)
    catalogue.waitlist_promote(reward_id=invitation.pk)
    badge = Badge.objects.create(code="x-badge", name_sv="Märke", name_en="Badge")
    challenge = Challenge.objects.create(
        code="x-buy",
        kind="purchases",
        name_sv="Köp",
        name_en="Buy",
        target=1,
        badge=badge,
        starts_at=timezone.now() - datetime.timedelta(days=365),
    )
    challenges.challenge_progress_update(member=member, challenge=challenge)
    friend = member_with_user(email="friend.export@example.se")
    referrals.referral_register(
        referred=friend, code=referrals.referral_code_for(member=member).code
    )
    referrals.referral_complete(referred=friend, purchase_id=purchase_id or 0)
    product = Product.objects.first()
    approved = reviews.review_submit(
        member=member, kind="review", text="Mycket bra löparskor, rekommenderas!", product=product
    )
    reviews.review_approve(review_id=approved.pk, actor=staff)
    rejected = reviews.review_submit(member=member, kind="social", url="https://example.se/p/1")
    reviews.review_reject(review_id=rejected.pk, actor=staff, reason="Not about us")
