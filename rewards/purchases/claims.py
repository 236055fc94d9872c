"""A member claims a purchase made without their card."""

from __future__ import annotations

import datetime
import hashlib

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from members.activity import Kind as ActivityKind
from members.activity import activity_record
from members.models import Member, Store
from rewards.errors import (
    PurchaseAlreadyClaimedError,
    PurchaseClaimLimitedError,
    PurchaseNotClaimableError,
)
from rewards.ledger.lock_objects import member_lock_resolved, purchases_select_for_update
from rewards.models import (
    Purchase,
)
from rewards.purchases.recording import purchase_earn


def _claim_failure_keys(*, member: Member, store: Store, receipt_id: str) -> list[str]:
    receipt = hashlib.sha256(receipt_id.strip().lower().encode()).hexdigest()[:32]
    return [
        f"rewards:claim-failures:member:{member.pk}",
        f"rewards:claim-failures:receipt:{store.pk}:{receipt}",
    ]


def purchase_claim(*, member: Member, store: Store, receipt_id: str, total_ore: int) -> Purchase:
    """The member forgot their card: attach a member-less purchase (matched by store,
    receipt number and amount, within the claim period) and earn its points, exactly once.

    The amount is what proves the receipt is theirs, so it must not be guessable: after
    ``REWARDS_CLAIM_MAX_FAILURES`` wrong claims by this member, or for this receipt by anyone,
    within ``REWARDS_CLAIM_LOCK_MINUTES``, claims are refused (``PurchaseClaimLimitedError``)
    even with the right amount. Counted in the cache (Redis), atomically per key."""
    keys = _claim_failure_keys(member=member, store=store, receipt_id=receipt_id)
    limit = settings.REWARDS_CLAIM_MAX_FAILURES
    if any(count >= limit for count in cache.get_many(keys).values()):
        raise PurchaseClaimLimitedError()
    try:
        return _purchase_claim(
            member=member, store=store, receipt_id=receipt_id, total_ore=total_ore
        )
    except (PurchaseNotClaimableError, PurchaseAlreadyClaimedError):
        timeout = settings.REWARDS_CLAIM_LOCK_MINUTES * 60
        for key in keys:
            cache.add(key, 0, timeout)  # the window starts at the first failure
            try:
                cache.incr(key)
            except ValueError:  # expired between the two calls: a new window
                cache.set(key, 1, timeout)
        raise


def _purchase_claim(*, member: Member, store: Store, receipt_id: str, total_ore: int) -> Purchase:
    now = timezone.now()
    since = now - datetime.timedelta(days=settings.REWARDS_CLAIM_DAYS)
    with transaction.atomic():
        purchase = (
            purchases_select_for_update()
            .filter(
                store=store,
                receipt_id=receipt_id.strip(),
                total_ore=total_ore,
                purchased_at__gte=since,
            )
            .first()
        )
        if purchase is None:
            raise PurchaseNotClaimableError()
        if purchase.member_id is not None:
            raise PurchaseAlreadyClaimedError()
        # The member row after the purchase's (docs/ledger.md): a member merged meanwhile
        # claims for the survivor.
        survivor_id = member_lock_resolved(member_id=member.pk)
        if survivor_id != member.pk:
            member = Member.objects.select_related("user").get(pk=survivor_id)
        points = sum(line.points - line.points_reversed for line in purchase.lines.all())
        available_at = purchase.purchased_at + datetime.timedelta(
            days=settings.REWARDS_PENDING_DAYS
        )
        matured = available_at <= now
        available_at = max(available_at, now)
        Purchase.objects.filter(pk=purchase.pk).update(
            member=member, claimed_at=now, points_available_at=available_at if points else None
        )
        purchase.member = member
        purchase.claimed_at = now
        if points > 0:
            purchase_earn(
                purchase=purchase,
                member_id=member.pk,
                points=points,
                available_at=available_at,
                matured=matured,
            )
        activity_record(
            member=member,
            kind=ActivityKind.PURCHASE_CLAIMED,
            data={"purchase_id": purchase.pk, "points": points},
            source="web",
            actor=member.user,
            store=store,
        )
    return purchase
