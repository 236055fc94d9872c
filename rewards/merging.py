"""rewards' part of a merge of two members (members.merging; docs/ledger.md "Points and
purchases in a merge"), registered from ``RewardsConfig.ready`` with order 30.

Runs inside ``member_merge``'s transaction with both member rows locked (``FOR UPDATE``, in
primary-key order), so no points write of either member runs meanwhile: every one of them
locks the member row first (``rewards.ledger.lock_objects.member_lock_live``) and, once
the merge has committed, finds the tombstone and is redirected (purchases, points given) or
refused (spending: ``MemberMergedError``).

- Points move by ``transfer`` entries, never by rewriting entries: per open lot of the
  merged member an out entry on it and an in entry on the survivor, with a new lot that
  keeps the lot's dates (available from, matured, expires) and purchase, so expiry, maturing
  and a later return work on the survivor as they would have. The old lot is emptied.
- Active reservations move to the survivor with their reserved points (a transfer pair of
  ``reserved`` entries per reservation): the till that holds one captures or releases it
  later as usual, against the survivor's balance. Resolved reservations stay with their
  entries on the tombstone, as the history of its books.
- Purchases (their lines and returns follow), vouchers, reviews, check-ins, waiting lists
  and referrals move; challenge progress, badges and benefit choices are combined; the tier
  row moves when the survivor has none; then the survivor's tier is evaluated afresh.
- What stays on the tombstone is listed in ``STAYS``: the append-only ledger and tier
  history, the emptied lots and balance, and rows that cannot move without breaking a rule.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from members.models import Member
from rewards.ledger.balances import balance_apply, balance_lock
from rewards.ledger.entries import Cause, Entry
from rewards.ledger.lock_objects import lots_select_for_update
from rewards.loyalty.tiers import tier_evaluate
from rewards.models import (
    BenefitChoice,
    ChallengeProgress,
    CheckIn,
    LedgerEntry,
    MemberBadge,
    MemberTier,
    PointLot,
    Purchase,
    Referral,
    ReferralCode,
    Reservation,
    Review,
    TierChange,
    Voucher,
    WaitlistEntry,
)

# Relations to Member that a merge leaves (in whole or in part) on the tombstone, and why
# (members.merging.MERGE_STAYS, registered with the step; its model-graph test reads both).
STAYS: dict[str, str] = {
    "rewards.LedgerEntry.member": (
        "the ledger is append-only (a trigger refuses UPDATE): the merged member's entries "
        "stay as written, and its open lots move by transfer entries (out on the tombstone, "
        "in on the survivor)"
    ),
    "rewards.PointLot.member": (
        "the merged member's lots stay with the entries that made them, emptied; the survivor "
        "gets a new lot per open lot, with its dates (counted as rewards.point_lots)"
    ),
    "rewards.PointBalance.member": "the tombstone's balance row stays, zero after the transfers",
    "rewards.Reservation.member": (
        "active reservations move with their reserved points (rewards.reservations); "
        "resolved ones stay with their entries, as the tombstone's history"
    ),
    "rewards.TierChange.member": "the tier history is append-only audit",
    "rewards.ReferralCode.member": (
        "moves when the survivor has no code; otherwise it stays, and a friend who uses it "
        "is referred by the survivor (referral_register resolves the tombstone)"
    ),
    "rewards.Referral.referrer": (
        "friends the merged member referred move to the survivor (rewards.referrals_made); a "
        "referral of the survivor by the merged member stays, and never pays (self)"
    ),
    "rewards.Referral.referred": (
        "who referred the merged member refers the survivor if nobody did "
        "(rewards.referral_received); otherwise, or when the referrer is the survivor, it stays"
    ),
    "rewards.WaitlistEntry.member": (
        "places move (rewards.waitlist_entries); where both waited for the same invitation and "
        "both were given a ticket, the merged member's place stays (the ticket moved)"
    ),
}


def merge_key(*, survivor: Member, merged: Member, part: str) -> str:
    """The idempotency key of one transfer entry: a member is merged once, so the merged
    member's id and the part (``lot:<id>:out``, ``reservation:<id>:in``) make it unique."""
    return f"merge:{merged.pk}:{survivor.pk}:{part}"


def rewards_merge(survivor: Member, merged: Member) -> dict[str, int]:
    """Move the merged member's points, purchases and loyalty rows to the survivor.

    Call inside ``member_merge`` (both member rows locked). Returns the counts: a relation
    moved whole under ``"rewards.<Model>.<field>"`` (members.merging's model-graph check),
    the rest (points, reservations, referrals) under ``"rewards.<what>"``."""
    moved: dict[str, int] = {}
    moved.update(_points_move(survivor, merged))
    moved["rewards.Purchase.member"] = Purchase.objects.filter(member=merged).update(
        member=survivor
    )
    moved["rewards.Voucher.member"] = Voucher.objects.filter(member=merged).update(member=survivor)
    moved["rewards.Review.member"] = Review.objects.filter(member=merged).update(member=survivor)
    moved["rewards.CheckIn.member"] = CheckIn.objects.filter(member=merged).update(member=survivor)
    moved["rewards.waitlist_entries"] = _waitlist_move(survivor, merged)
    moved["rewards.ChallengeProgress.member"] = _challenges_combine(survivor, merged)
    moved["rewards.MemberBadge.member"] = _badges_combine(survivor, merged)
    moved["rewards.BenefitChoice.member"] = _benefit_choices_move(survivor, merged)
    moved.update(_referrals_move(survivor, merged))
    moved["rewards.MemberTier.member"] = _tier_move(survivor, merged)
    return moved


# --- points --------------------------------------------------------------------------------


def _points_move(survivor: Member, merged: Member) -> dict[str, int]:
    """Transfer entries per open lot and per active reservation; the balances follow."""
    # Balance rows in primary-key order, as every writer of two members; due pending lots
    # mature first (balance_lock), so each lot moves in the state the till would see.
    first, second = sorted([survivor, merged], key=lambda member: member.pk)
    balances = {member.pk: balance_lock(member.pk, create=True) for member in (first, second)}
    survivor_balance, merged_balance = balances[survivor.pk], balances[merged.pk]
    assert survivor_balance is not None
    assert merged_balance is not None
    now = timezone.now()
    lots = list(lots_select_for_update(member_id=merged.pk).filter(remaining__gt=0))
    reservations = list(
        Reservation.objects.select_for_update()
        .filter(member=merged, status=Reservation.Status.ACTIVE)
        .order_by("pk")
    )
    outs: list[LedgerEntry] = []
    ins: list[LedgerEntry] = []
    for lot in lots:
        pending, posted = (0, lot.remaining) if lot.matured else (lot.remaining, 0)
        for member, sign, direction in ((merged, -1, "out"), (survivor, 1, "in")):
            (outs if direction == "out" else ins).append(
                _transfer(
                    member=member,
                    points=lot.remaining,
                    pending=sign * pending,
                    posted=sign * posted,
                    purchase_id=lot.purchase_id,
                    key=merge_key(
                        survivor=survivor, merged=merged, part=f"lot:{lot.pk}:{direction}"
                    ),
                    now=now,
                )
            )
    for reservation in reservations:
        for member, sign, direction in ((merged, -1, "out"), (survivor, 1, "in")):
            (outs if direction == "out" else ins).append(
                _transfer(
                    member=member,
                    points=reservation.amount,
                    reserved=sign * reservation.amount,
                    reservation_id=reservation.pk,
                    key=merge_key(
                        survivor=survivor,
                        merged=merged,
                        part=f"reservation:{reservation.pk}:{direction}",
                    ),
                    now=now,
                )
            )
    LedgerEntry.objects.bulk_create(outs)
    ins = LedgerEntry.objects.bulk_create(ins)
    PointLot.objects.bulk_create(
        [
            PointLot(
                member=survivor,
                entry=entry,
                purchase_id=lot.purchase_id,
                amount=lot.remaining,
                remaining=lot.remaining,
                available_at=lot.available_at,
                matured=lot.matured,
                expires_at=lot.expires_at,
            )
            for lot, entry in zip(lots, ins[: len(lots)], strict=True)
        ]
    )
    PointLot.objects.filter(pk__in=[lot.pk for lot in lots]).update(remaining=0)
    Reservation.objects.filter(pk__in=[r.pk for r in reservations]).update(member=survivor)
    pending = sum(lot.remaining for lot in lots if not lot.matured)
    posted = sum(lot.remaining for lot in lots if lot.matured)
    reserved = sum(reservation.amount for reservation in reservations)
    # The merged member's books empty in one statement (reserved never above posted), the
    # survivor's grow in one.
    balance_apply(merged_balance, pending=-pending, posted=-posted, reserved=-reserved)
    balance_apply(survivor_balance, pending=pending, posted=posted, reserved=reserved)
    return {
        "rewards.point_lots": len(lots),
        "rewards.points_pending": pending,
        "rewards.points_posted": posted,
        "rewards.reservations": len(reservations),
        "rewards.points_reserved": reserved,
    }


def _transfer(
    *,
    member: Member,
    points: int,
    key: str,
    now: datetime.datetime,
    pending: int = 0,
    posted: int = 0,
    reserved: int = 0,
    purchase_id: int | None = None,
    reservation_id: int | None = None,
) -> LedgerEntry:
    return LedgerEntry(
        member=member,
        kind=Entry.TRANSFER,
        points=points,
        delta_pending=pending,
        delta_posted=posted,
        delta_reserved=reserved,
        cause=Cause.MERGE,
        purchase_id=purchase_id,
        reservation_id=reservation_id,
        idempotency_key=key,
        created_at=now,
    )


# --- loyalty rows --------------------------------------------------------------------------


def _badges_combine(survivor: Member, merged: Member) -> int:
    """A badge is held once (unique per member and badge): the merged member's others move;
    one both hold stays the survivor's, with the earlier award date."""
    mine = {row.badge_id: row for row in MemberBadge.objects.filter(member=survivor)}
    moved = 0
    for row in MemberBadge.objects.filter(member=merged).order_by("pk"):
        kept = mine.get(row.badge_id)
        if kept is None:
            MemberBadge.objects.filter(pk=row.pk).update(member=survivor)
            moved += 1
            continue
        if row.awarded_at < kept.awarded_at:
            MemberBadge.objects.filter(pk=kept.pk).update(awarded_at=row.awarded_at)
        row.delete()
    return moved


def _challenges_combine(survivor: Member, merged: Member) -> int:
    """Progress is unique per (member, challenge). A challenge only one of them had moves;
    for one both had, the survivor keeps the further progress and the earlier completion
    (not the sum: a sum could complete a challenge whose reward was never given, and each
    reward earned already moved as points). The merged member's row is then deleted."""
    mine = {row.challenge_id: row for row in ChallengeProgress.objects.filter(member=survivor)}
    combined = 0
    for row in ChallengeProgress.objects.filter(member=merged).order_by("pk"):
        kept = mine.get(row.challenge_id)
        if kept is None:
            ChallengeProgress.objects.filter(pk=row.pk).update(member=survivor)
            combined += 1
            continue
        completions = [t for t in (kept.completed_at, row.completed_at) if t is not None]
        ChallengeProgress.objects.filter(pk=kept.pk).update(
            progress=max(kept.progress, row.progress),
            completed_at=min(completions) if completions else None,
            updated_at=max(kept.updated_at, row.updated_at),
        )
        row.delete()
        combined += 1
    return combined


def _benefit_choices_move(survivor: Member, merged: Member) -> int:
    """A benefit chosen by both for the same period stays chosen once (the survivor's)."""
    taken = set(
        BenefitChoice.objects.filter(member=survivor).values_list("benefit_id", "period_start")
    )
    moved = 0
    for choice in BenefitChoice.objects.filter(member=merged).order_by("pk"):
        if (choice.benefit_id, choice.period_start) in taken:
            choice.delete()
            continue
        BenefitChoice.objects.filter(pk=choice.pk).update(member=survivor)
        moved += 1
    return moved


def _waitlist_move(survivor: Member, merged: Member) -> int:
    """One place per invitation: where both wait, the survivor keeps the earlier place (and
    the ticket, if either was offered one); the other entry is dropped, unless both were
    given a ticket (the tickets are vouchers, already the survivor's): then it stays."""
    mine = {row.reward_id: row for row in WaitlistEntry.objects.filter(member=survivor)}
    moved = 0
    for row in WaitlistEntry.objects.filter(member=merged).order_by("pk"):
        kept = mine.get(row.reward_id)
        if kept is None:
            WaitlistEntry.objects.filter(pk=row.pk).update(member=survivor)
            moved += 1
        elif kept.voucher_id is not None and row.voucher_id is not None:
            continue
        else:
            WaitlistEntry.objects.filter(pk=kept.pk).update(
                created_at=min(kept.created_at, row.created_at),
                voucher_id=kept.voucher_id or row.voucher_id,
            )
            row.delete()
            moved += 1
    return moved


def _referrals_move(survivor: Member, merged: Member) -> dict[str, int]:
    """Friends the merged member referred become the survivor's; who referred the merged
    member refers the survivor when nobody did. A member never refers themselves: a
    referral between the two stays as it is, completed ones as history; a pending one can
    never pay out (``referral_complete`` skips a referrer merged into the referred, and the
    referred tombstone never buys again)."""
    made = (
        Referral.objects.filter(referrer=merged)
        .exclude(referred=survivor)
        .update(referrer=survivor)
    )
    received = 0
    if not Referral.objects.filter(referred=survivor).exists():
        received = (
            Referral.objects.filter(referred=merged)
            .exclude(referrer=survivor)
            .update(referred=survivor)
        )
    code = 0
    if not ReferralCode.objects.filter(member=survivor).exists():
        code = ReferralCode.objects.filter(member=merged).update(member=survivor)
    return {
        "rewards.referrals_made": made,
        "rewards.referral_received": received,
        "rewards.referral_code": code,
    }


def _tier_move(survivor: Member, merged: Member) -> int:
    """The survivor keeps its tier row, or takes the merged member's (with its dates) when
    it has none; the tombstone's other row goes (its history stays in ``TierChange``). Then
    the survivor's tier is evaluated on what both earned (``qualifying_value`` counts a
    merged member's earnings for the survivor); upgrades only: a merge starts no grace."""
    moved = 0
    if not MemberTier.objects.filter(member=survivor).exists():
        moved = MemberTier.objects.filter(member=merged).update(member=survivor)
    else:
        MemberTier.objects.filter(member=merged).delete()
    tier_evaluate(
        member_id=survivor.pk,
        reason=TierChange.Reason.REEVALUATION,
        allow_downgrade=False,
        with_members=[merged.pk],
    )
    return moved


def register() -> None:
    """From ``RewardsConfig.ready``: the step, and what it leaves on the tombstone."""
    from members.merging import merge_stays_register, merge_step_register

    merge_step_register(name="rewards", run=rewards_merge, order=30)
    merge_stays_register(STAYS)
