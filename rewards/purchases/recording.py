"""Recording a purchase and earning its points, once per (store, receipt id)."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from members.merging import member_resolve
from members.models import Member, Store
from rewards.errors import (
    DuplicateReceiptConflictError,
    MemberMergedError,
)
from rewards.ledger.balances import balance_credit
from rewards.ledger.entries import Cause, Entry, entry_write
from rewards.ledger.idempotency import request_fingerprint
from rewards.ledger.lots import lot_create
from rewards.loyalty.tiers import tier_upgrade_for_purchase
from rewards.models import (
    Purchase,
)
from rewards.purchases.products import products_resolve
from rewards.purchases.till_sql import purchase_write
from rewards.purchases.types import LineInput, PurchaseResult
from rewards.rules import earning
from rewards.selectors import member_for_purchase


def purchase_fingerprint(
    *,
    receipt_id: str,
    member_number: str | None,
    total_ore: int,
    purchased_at: datetime.datetime | None,
    lines: list[LineInput],
) -> str:
    return request_fingerprint(
        {
            "receipt": receipt_id,
            "member": member_number,
            "total": total_ore,
            "at": purchased_at.astimezone(datetime.UTC).isoformat() if purchased_at else None,
            # A line's VAT rate counts only when the till sent one: requests without it keep
            # the fingerprints they had before VAT rates existed.
            "lines": [
                [line.sku, line.quantity, line.unit_price_ore, line.discount_ore]
                + ([] if line.vat_rate_bp is None else [line.vat_rate_bp])
                for line in lines
            ],
        }
    )


def member_tier_id(member: Member) -> int | None:
    # RelatedObjectDoesNotExist is an AttributeError: no tier yet
    member_tier = getattr(member, "member_tier", None)
    return member_tier.tier_id if member_tier is not None else None


def purchase_day(purchased_at: datetime.datetime | None) -> datetime.date:
    """The (Stockholm) day whose earning rules and multipliers a purchase earns by."""
    return timezone.localtime(purchased_at or timezone.now()).date()


def purchase_record(
    *,
    store: Store,
    receipt_id: str,
    member: Member | None,
    total_ore: int,
    purchased_at: datetime.datetime | None,
    lines: list[LineInput],
    bonus: earning.BonusPrefetch | None = None,
) -> PurchaseResult:
    """Record a purchase and earn its points, once per (store, receipt id).

    A replay with the same contents returns the first purchase (``created=False``); with
    other contents it raises ``DuplicateReceiptConflictError``. Points stay pending for the
    return window, counted from the time of purchase (``None``: now, and a replay without a
    time matches whatever time the first request was recorded at). ``bonus``: the member's
    personal multipliers, when the caller read them with the member
    (``selectors.member_for_purchase``); used if read for the purchase's day.

    A member merged into another while the purchase was on its way (members.merging): the
    purchase is the survivor's, recorded for them (with their tier and multipliers)."""
    try:
        return _purchase_record(
            store=store,
            receipt_id=receipt_id,
            member=member,
            total_ore=total_ore,
            purchased_at=purchased_at,
            lines=lines,
            bonus=bonus,
        )
    except MemberMergedError:
        assert member is not None
    return purchase_record(
        store=store,
        receipt_id=receipt_id,
        member=member_resolve(Member.objects.select_related("member_tier").get(pk=member.pk)),
        total_ore=total_ore,
        purchased_at=purchased_at,
        lines=lines,
    )


def _purchase_record(
    *,
    store: Store,
    receipt_id: str,
    member: Member | None,
    total_ore: int,
    purchased_at: datetime.datetime | None,
    lines: list[LineInput],
    bonus: earning.BonusPrefetch | None,
) -> PurchaseResult:
    member_number = member.membership_number if member else None
    fingerprint_for = functools.partial(
        purchase_fingerprint,
        receipt_id=receipt_id,
        total_ore=total_ore,
        purchased_at=purchased_at,
        lines=lines,
    )
    fingerprint = fingerprint_for(member_number=member_number)
    now = timezone.now()
    purchased_at = purchased_at or now
    available_at = (
        max(purchased_at + datetime.timedelta(days=settings.REWARDS_PENDING_DAYS), now)
        if settings.REWARDS_PENDING_DAYS > 0
        else now
    )
    matured = settings.REWARDS_PENDING_DAYS <= 0 or available_at <= now
    rules = earning.rules_active()
    try:
        with transaction.atomic():
            # Unknown SKUs and categories are created in this transaction: a refused purchase
            # (a conflicting replay, a failing line) leaves no catalogue rows behind.
            products = products_resolve(lines)
            line_inputs = [
                earning.LineForEarning(
                    product_id=products[line.sku][0],
                    category_id=products[line.sku][1],
                    quantity=line.quantity,
                    unit_price_ore=line.unit_price_ore,
                    discount_ore=line.discount_ore,
                )
                for line in lines
            ]
            calc = earning.earning_calculate(
                lines=line_inputs,
                store_id=store.pk,
                tier_id=member_tier_id(member) if member else None,
                day=purchase_day(purchased_at),
                total_ore=total_ore,
                rules=rules,
                # The member's own multipliers (an activated offer, a chosen tier benefit).
                member_id=member.pk if member else None,
                bonus=bonus,
            )
            purchase, purchase_lines = purchase_write(
                store=store,
                receipt_id=receipt_id,
                member=member,
                total_ore=total_ore,
                purchased_at=purchased_at,
                now=now,
                fingerprint=fingerprint,
                calc=calc,
                lines=lines,
                line_inputs=line_inputs,
                vat_rates=[
                    products[line.sku][2] if line.vat_rate_bp is None else line.vat_rate_bp
                    for line in lines
                ],
                available_at=available_at,
                matured=matured,
            )
            if member is not None:
                # The purchase that crosses a tier threshold upgrades the member at once.

                tier_upgrade_for_purchase(
                    member_id=member.pk,
                    purchase_id=purchase.pk,
                    held=getattr(member, "member_tier", None),
                )
        return PurchaseResult(purchase, purchase_lines, True, member_number)
    except IntegrityError:
        existing = (
            Purchase.objects.select_related("member")
            .filter(store=store, receipt_id=receipt_id)
            .first()
        )
        if existing is None:
            raise
    if existing.request_hash != fingerprint and not (
        member is not None
        and existing.member_id is not None
        and existing.request_hash in _fingerprints_before_merge(existing.member_id, fingerprint_for)
    ):
        raise DuplicateReceiptConflictError()
    return PurchaseResult(
        existing,
        list(existing.lines.order_by("line_no")),
        False,
        existing.member.membership_number if existing.member else None,
    )


def _fingerprints_before_merge(member_id: int, fingerprint_for: Callable[..., str]) -> set[str]:
    """A till's replay of a purchase recorded before a merge names the merged member (or
    the survivor its card now resolves to): the request as it was first sent, with the
    number of a member merged into the purchase's member, is the same request."""
    numbers = Member.objects.filter(merged_into=member_id).values_list(
        "membership_number", flat=True
    )
    return {fingerprint_for(member_number=number) for number in numbers}


def purchase_record_for_till(
    *,
    store: Store,
    receipt_id: str,
    member_identifiers: dict[str, Any] | None,
    total_ore: int,
    purchased_at: datetime.datetime | None,
    lines: list[LineInput],
) -> PurchaseResult:
    """A till's purchase: the member found by ``member_identifiers`` (None: no member) with
    their tier and, in the same query, their personal multipliers for the purchase's day
    (``selectors.member_for_purchase``), then ``purchase_record``."""
    member, bonus = (
        member_for_purchase(member_identifiers, bonus_day=purchase_day(purchased_at))
        if member_identifiers
        else (None, None)
    )
    return purchase_record(
        store=store,
        receipt_id=receipt_id,
        member=member,
        total_ore=total_ore,
        purchased_at=purchased_at,
        lines=lines,
        bonus=bonus,
    )


def purchase_earn(
    *,
    purchase: Purchase,
    member_id: int,
    points: int,
    available_at: datetime.datetime,
    matured: bool,
) -> None:
    entry = entry_write(
        member_id=member_id,
        kind=Entry.EARN,
        points=points,
        pending=0 if matured else points,
        posted=points if matured else 0,
        cause=Cause.PURCHASE,
        key=f"purchase:{purchase.pk}:earn",
        purchase_id=purchase.pk,
        explanation=purchase.explanation,
        store_id=purchase.store_id,
    )
    lot_create(
        member_id=member_id,
        entry=entry,
        points=points,
        available_at=available_at,
        matured=matured,
        purchase_id=purchase.pk,
    )
    balance_credit(member_id, pending=0 if matured else points, posted=points if matured else 0)
