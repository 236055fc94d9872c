"""The reward catalogue: claiming rewards, vouchers (use exactly once, cancel for the points
back), partner code pools, invitations with a waiting list (docs/rewards.md).

Claim, in one transaction and in the ledger's lock order: the member's balance row first
(``points_redeem`` re-checks the balance under it), then one unit of stock by a conditional
UPDATE (``stock_left > 0``; a CHECK constraint backs it), then a partner code drawn with
``SELECT ... FOR UPDATE SKIP LOCKED``. Anything refused rolls the whole claim back, so a
"sold out" answer never costs a point.
"""

from __future__ import annotations

import datetime
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import segno
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.activity import Kind as ActivityKind
from members.activity import activity_record
from members.card import QR_MASK  # the same fixed mask as the membership card
from members.enqueue import task_get
from members.errors import DomainError
from members.models import Member, Store, User
from members.rows import CompiledQuery
from rewards.errors import (
    BasketBelowMinimumError,
    IdempotencyConflictError,
    MemberLimitReachedError,
    PartnerCodesInvalidError,
    RewardNotAvailableError,
    SoldOutError,
    TierRequiredError,
    UnknownVoucherError,
    VoucherCancelledError,
    VoucherExpiredError,
    VoucherNotCancellableError,
    VoucherUsedError,
    WaitlistNotOpenError,
)
from rewards.ledger.balances import balance_lock
from rewards.ledger.lock_objects import member_lock_resolved
from rewards.ledger.points import points_earn, points_redeem
from rewards.ledger.snapshots import balance_snapshot
from rewards.models import (
    LedgerEntry,
    MemberTier,
    PartnerCode,
    PointBalance,
    Reward,
    Voucher,
    WaitlistEntry,
)
from rewards.rules.events import checkin_record

# No 0/O, 1/I/L: read aloud at a till without mistakes. 16 of 31 symbols: ~79 bits.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 16
QR_PREFIX = "KKV1:"
PARTNER_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#+=-]{0,99}$")


# --- codes ----------------------------------------------------------------------------------


def voucher_code_new() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def voucher_code_normalise(text: str) -> str:
    """What a till typed or scanned: the QR payload or the code with dashes and spaces."""
    text = (text or "").strip().upper()
    text = text.removeprefix(QR_PREFIX)
    return re.sub(r"[\s-]", "", text)[:40]


def voucher_qr_svg(voucher: Voucher, *, title: str = "") -> str:
    """The voucher's QR code as inline SVG, drawn on the server."""
    qr = segno.make(QR_PREFIX + voucher.code, error="m", mask=QR_MASK)
    return qr.svg_inline(scale=6, border=2, dark="#111111", light="#ffffff", title=title or None)


# --- availability ---------------------------------------------------------------------------


# ``MemberTier.objects.filter(member=member).select_related("tier").first()``, compiled once
# per process (members.rows): every catalogue page reads it.
_MEMBER_TIER: CompiledQuery[MemberTier] = CompiledQuery(
    lambda member_id: (
        MemberTier.objects.filter(member=member_id).select_related("tier").order_by("pk")[:1]
    ),
    "member_id",
)


def member_tier_rank(member: Member) -> int:
    found = _MEMBER_TIER(member_id=member.pk)
    return found[0].tier.rank if found else -1


def reward_check_available(
    reward: Reward, *, tier_rank: int, now: datetime.datetime | None = None
) -> None:
    now = now or timezone.now()
    if not reward.active or reward.starts_at > now or (reward.ends_at and reward.ends_at <= now):
        raise RewardNotAvailableError()
    if reward.min_tier is not None and tier_rank < reward.min_tier.rank:
        raise TierRequiredError()


def rewards_for_member(
    *,
    member: Member,
    kind: str = "",
    affordable: bool = False,
    now: datetime.datetime | None = None,
) -> QuerySet[Reward]:
    """What the member's catalogue shows: active, in date, open to their tier."""
    now = now or timezone.now()
    available = _available(member) if affordable else None
    return _rewards_open(now=now, rank=member_tier_rank(member), kind=kind, available=available)


def _available(member: Member) -> int:
    return balance_snapshot(PointBalance.objects.filter(member=member).first())["available"]


def _rewards_open(
    *, now: datetime.datetime, rank: int, kind: str, available: int | None
) -> QuerySet[Reward]:
    rewards = (
        Reward.objects.filter(active=True, starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .filter(Q(min_tier__isnull=True) | Q(min_tier__rank__lte=rank))
        .select_related("min_tier")
    )
    if kind:
        rewards = rewards.filter(kind=kind)
    if available is not None:
        rewards = rewards.filter(points_cost__lte=available)
    return rewards.order_by("points_cost", "code")


# The catalogue page's list, compiled once per process and filter (members.rows).
_CATALOGUE: dict[tuple[str, bool], CompiledQuery[Reward]] = {}


def rewards_for_member_list(
    *, member: Member, kind: str = "", affordable: bool = False
) -> list[Reward]:
    """``list(rewards_for_member(...))``; ``kind`` must be one of ``Reward.Kind`` or ""."""
    if kind and kind not in Reward.Kind.values:
        raise ValueError(f"unknown reward kind {kind!r}")
    query = _CATALOGUE.get((kind, affordable))
    if query is None:
        names = ("now", "rank", "available") if affordable else ("now", "rank")
        query = _CATALOGUE[(kind, affordable)] = CompiledQuery(
            lambda now, rank, available=None: _rewards_open(
                now=now, rank=rank, kind=kind, available=available
            ),
            *names,
            datetimes=["now"],
        )
    values: dict[str, Any] = {"now": timezone.now(), "rank": member_tier_rank(member)}
    if affordable:
        values["available"] = _available(member)
    return query(**values)


# --- claim ----------------------------------------------------------------------------------


def _valid_until(reward: Reward, now: datetime.datetime) -> datetime.datetime:
    if reward.kind == Reward.Kind.INVITATION and reward.event_starts_at:
        return reward.event_starts_at + datetime.timedelta(hours=12)
    return now + datetime.timedelta(days=reward.valid_days)


def reward_claim(
    *,
    member: Member,
    reward: Reward,
    idempotency_key: str,
    actor: User | None = None,
    source: str = "web",
) -> Voucher:
    """Spend the reward's points, take one unit of stock and issue a voucher: all or nothing.

    Replaying ``idempotency_key`` returns the first voucher. Raises ``SoldOutError``,
    ``InsufficientPointsError``, ``MemberLimitReachedError``, ``TierRequiredError`` or
    ``RewardNotAvailableError``; none of them changes anything."""
    return _voucher_issue(
        member=member,
        reward=reward,
        key=f"claim:{idempotency_key}",
        points=reward.points_cost,
        actor=actor,
        source=source,
    )


def reward_grant(
    *,
    member: Member,
    reward: Reward,
    idempotency_key: str,
    source: str = "campaign",
    actor: User | None = None,
) -> Voucher:
    """Give the member the reward as a gift (a campaign's reward offer): no points are
    charged, but stock, the per-member limit, availability, validity and the tier rule apply
    exactly as for ``reward_claim``, in the same transaction and lock order.

    Replaying ``idempotency_key`` returns the first voucher (grants and claims have separate
    key spaces). Raises ``SoldOutError``, ``MemberLimitReachedError``, ``TierRequiredError``
    or ``RewardNotAvailableError``; none of them changes anything. May be called inside the
    caller's transaction (it then runs in a savepoint)."""
    return _voucher_issue(
        member=member,
        reward=reward,
        key=f"grant:{idempotency_key}",
        points=0,
        actor=actor,
        source=source,
        gift=True,
    )


def _voucher_existing(key: str, member: Member, reward: Reward) -> Voucher | None:
    existing = Voucher.objects.filter(claim_key=key).first()
    if existing is not None and (
        existing.member_id != member.pk or existing.reward_id != reward.pk
    ):
        raise IdempotencyConflictError()
    return existing


def _voucher_issue(
    *,
    member: Member,
    reward: Reward,
    key: str,
    points: int,
    actor: User | None,
    source: str,
    gift: bool = False,
) -> Voucher:
    """Claim and grant: take one unit of stock and issue a voucher, charging ``points``
    (0 for a gift)."""
    existing = _voucher_existing(key, member, reward)
    if existing is not None:
        return existing
    now = timezone.now()
    reward_check_available(reward, tier_rank=member_tier_rank(member), now=now)
    if reward.sold_out:  # a fast answer; the conditional update below is the real guard
        raise SoldOutError()
    with transaction.atomic():
        # Lock first, in the ledger's order: the member's balance row. It serialises this
        # member's claims, so the per-member limit counted below cannot be passed twice.
        balance_lock(member.pk, create=True)
        # Re-check under the lock: the same request (a double click) may have just committed.
        existing = _voucher_existing(key, member, reward)
        if existing is not None:
            return existing
        if reward.per_member_limit is not None:
            claimed = Voucher.objects.filter(member=member, reward=reward).exclude(
                status=Voucher.Status.CANCELLED
            )
            if claimed.count() >= reward.per_member_limit:
                raise MemberLimitReachedError(limit=reward.per_member_limit)
        if points > 0:
            points_redeem(
                member=member,
                points=points,
                idempotency_key=key,
                actor=actor,
                reference=f"reward:{reward.code}"[:64],
            )
        # One unit of stock, never oversold: concurrent claims queue on the reward row and
        # each re-checks stock_left > 0 against the committed value.
        taken = Reward.objects.filter(
            Q(stock_left__isnull=True) | Q(stock_left__gt=0), pk=reward.pk
        ).update(stock_left=F("stock_left") - 1)
        if not taken:
            raise SoldOutError()
        pool_code = None
        if reward.kind == Reward.Kind.PARTNER:
            pool_code = (
                PartnerCode.objects.select_for_update(skip_locked=True)
                .filter(reward=reward, voucher__isnull=True)
                .order_by("id")
                .first()
            )
            if pool_code is None:
                raise SoldOutError()
        voucher = Voucher.objects.create(
            reward=reward,
            member=member,
            code=voucher_code_new(),
            points_spent=points,
            claim_key=key,
            partner_code=pool_code.code if pool_code else "",
            issued_at=now,
            valid_until=_valid_until(reward, now),
        )
        if pool_code is not None:
            PartnerCode.objects.filter(pk=pool_code.pk).update(voucher=voucher)
        if reward.kind == Reward.Kind.DONATION:
            # A donation is given at once: the voucher is its receipt.
            Voucher.objects.filter(pk=voucher.pk).update(status=Voucher.Status.USED, used_at=now)
            voucher.status, voucher.used_at = Voucher.Status.USED, now
        data: dict[str, Any] = {
            "reward_id": reward.pk,
            "voucher_id": voucher.pk,
            "points": points,
            "kind": reward.kind,
        }
        if gift:
            data["gift"] = True
        activity_record(
            member=member,
            kind=ActivityKind.REWARD_CLAIMED,
            data=data,
            source=source,
            actor=actor,
        )
    return voucher


# --- validate and redeem (tills, web shop, the door) ----------------------------------------


def voucher_get(code: str) -> Voucher:
    normalised = voucher_code_normalise(code)
    voucher = (
        Voucher.objects.select_related("reward", "member", "used_store")
        .filter(code=normalised)
        .first()
        if normalised
        else None
    )
    if voucher is None:
        raise UnknownVoucherError()
    return voucher


def voucher_discount_ore(voucher: Voucher, basket_total_ore: int | None) -> int | None:
    """What the voucher takes off the basket, when that is known."""
    reward = voucher.reward
    if reward.kind == Reward.Kind.DISCOUNT_AMOUNT and reward.amount_off_ore:
        return (
            reward.amount_off_ore
            if basket_total_ore is None
            else min(reward.amount_off_ore, basket_total_ore)
        )
    if reward.kind == Reward.Kind.DISCOUNT_PERCENT and reward.percent_off and basket_total_ore:
        return basket_total_ore * reward.percent_off // 100
    return None


def voucher_body(voucher: Voucher, basket_total_ore: int | None = None) -> dict[str, Any]:
    reward = voucher.reward
    return {
        "code": voucher.code,
        "status": voucher.status,
        "valid_until": voucher.valid_until,
        "reward": {
            "code": reward.code,
            "kind": reward.kind,
            "name_sv": reward.name_sv,
            "name_en": reward.name_en,
            "percent_off": reward.percent_off,
            "amount_off_ore": reward.amount_off_ore,
            "min_basket_ore": reward.min_basket_ore,
            "product_sku": reward.product_sku or None,
        },
        "partner_code": voucher.partner_code or None,
        "membership_number": voucher.member.membership_number,
        "discount_ore": voucher_discount_ore(voucher, basket_total_ore),
        "used_at": voucher.used_at,
        "used_store": voucher.used_store.code if voucher.used_store else None,
    }


def _check_usable(
    voucher: Voucher, *, basket_total_ore: int | None, now: datetime.datetime
) -> None:
    if voucher.status == Voucher.Status.USED:
        raise VoucherUsedError(used_at=voucher.used_at.isoformat() if voucher.used_at else None)
    if voucher.status == Voucher.Status.CANCELLED:
        raise VoucherCancelledError()
    if voucher.valid_until <= now:
        raise VoucherExpiredError()
    if basket_total_ore is not None and basket_total_ore < voucher.reward.min_basket_ore:
        raise BasketBelowMinimumError(min_basket_ore=voucher.reward.min_basket_ore)


def voucher_validate(*, code: str, basket_total_ore: int | None = None) -> dict[str, Any]:
    """What the voucher gives, for which basket; raises if it cannot be used now."""
    voucher = voucher_get(code)
    _check_usable(voucher, basket_total_ore=basket_total_ore, now=timezone.now())
    return voucher_body(voucher, basket_total_ore)


def voucher_redeem(
    *,
    code: str,
    store: Store,
    idempotency_key: str,
    basket_total_ore: int | None = None,
    reference: str = "",
) -> dict[str, Any]:
    """Use the voucher, exactly once. A replay with the same key gets the same answer; any
    other attempt on a used voucher gets ``VoucherUsedError``."""
    voucher = voucher_get(code)
    if voucher.status == Voucher.Status.USED and voucher.redeem_key == idempotency_key:
        return voucher_body(voucher, basket_total_ore)
    now = timezone.now()
    _check_usable(voucher, basket_total_ore=basket_total_ore, now=now)
    with transaction.atomic():
        # The member row first (docs/ledger.md "Concurrency"): a merge locks the members,
        # then moves their vouchers; a voucher moved meanwhile is used by the survivor.
        if member_lock_resolved(member_id=voucher.member_id) != voucher.member_id:
            voucher.refresh_from_db()
        # The status filter is the guard: of any number of concurrent redemptions, exactly
        # one moves the voucher off "issued".
        used = Voucher.objects.filter(
            pk=voucher.pk, status=Voucher.Status.ISSUED, valid_until__gt=now
        ).update(
            status=Voucher.Status.USED,
            used_at=now,
            used_store=store,
            used_reference=reference[:64],
            redeem_key=idempotency_key,
        )
        if not used:
            voucher.refresh_from_db()
            if voucher.status == Voucher.Status.USED and voucher.redeem_key == idempotency_key:
                return voucher_body(voucher, basket_total_ore)
            _check_usable(voucher, basket_total_ore=None, now=now)
            raise VoucherUsedError()  # pragma: no cover - the states above are exhaustive
        activity_record(
            member=voucher.member,
            kind=ActivityKind.VOUCHER_USED,
            data={"voucher_id": voucher.pk, "reward_id": voucher.reward_id},
            source="api",
            store=store,
        )
        if voucher.reward.kind == Reward.Kind.INVITATION:
            # A ticket scanned at the door is a check-in: attendance, staff's arrivals list
            # and the check-in rules' points, as for any visit.
            checkin_record(
                member=voucher.member, store=store, idempotency_key=f"ticket:{voucher.pk}"
            )
    voucher.refresh_from_db()
    return voucher_body(voucher, basket_total_ore)


def voucher_cancel(
    *, voucher_id: int, member: Member | None = None, actor: User | None = None
) -> Voucher:
    """Cancel an unused, valid voucher: its points come back (a new ledger entry with its
    own idempotency key) and its unit goes back into stock. Partner codes were shown to the
    member, so partner rewards and donations cannot be cancelled. ``member``: only their own.
    """
    voucher = Voucher.objects.select_related("reward").filter(pk=voucher_id).first()
    if voucher is None or (member is not None and voucher.member_id != member.pk):
        raise UnknownVoucherError()
    if voucher.reward.kind in (Reward.Kind.PARTNER, Reward.Kind.DONATION):
        raise VoucherNotCancellableError()
    now = timezone.now()
    with transaction.atomic():
        # A voucher moved by a merge meanwhile is the survivor's: its points go back to them.
        member_id = member_lock_resolved(member_id=voucher.member_id)
        balance_lock(member_id, create=True)
        cancelled = Voucher.objects.filter(
            pk=voucher.pk, status=Voucher.Status.ISSUED, valid_until__gt=now
        ).update(status=Voucher.Status.CANCELLED, cancelled_at=now)
        if not cancelled:
            raise VoucherNotCancellableError()
        if voucher.points_spent:
            points_earn(
                member=Member(pk=member_id),
                points=voucher.points_spent,
                cause=LedgerEntry.Cause.REWARD,
                idempotency_key=f"voucher:{voucher.pk}:refund",
                explanation=[
                    {
                        "rule": None,
                        "sv": f"Återbetalt: {voucher.reward.name_sv}",
                        "en": f"Returned: {voucher.reward.name_en}",
                        "points": voucher.points_spent,
                    }
                ],
                actor=actor,
            )
        Reward.objects.filter(pk=voucher.reward_id, stock_left__isnull=False).update(
            stock_left=F("stock_left") + 1
        )
        activity_record(
            member=Member(pk=member_id),
            kind=ActivityKind.VOUCHER_CANCELLED,
            data={"voucher_id": voucher.pk, "points": voucher.points_spent},
            source="staff" if actor is not None and member is None else "web",
            actor=actor,
        )
        if voucher.reward.kind == Reward.Kind.INVITATION:
            reward_id = voucher.reward_id
            transaction.on_commit(lambda: _waitlist_promote_later(reward_id))
    voucher.refresh_from_db()
    return voucher


# --- invitations: waiting list --------------------------------------------------------------


def _waitlist_promote_later(reward_id: int) -> None:
    task_get("rewards.tasks.waitlist_promote").delay(reward_id)


def waitlist_join(*, member: Member, reward: Reward, actor: User | None = None) -> WaitlistEntry:
    """Queue for a full invitation; a place freed by a cancellation goes to the first."""
    if reward.kind != Reward.Kind.INVITATION:
        raise WaitlistNotOpenError()
    reward_check_available(reward, tier_rank=member_tier_rank(member))
    with transaction.atomic():
        entry, created = WaitlistEntry.objects.get_or_create(reward=reward, member=member)
        if created:
            activity_record(
                member=member,
                kind=ActivityKind.WAITLIST_JOINED,
                data={"reward_id": reward.pk},
                source="web",
                actor=actor,
            )
    return entry


def waitlist_promote(*, reward_id: int) -> int:
    """Give freed places to the waiting list, first come first served (each claim spends the
    member's points as a normal claim; members who cannot afford it are skipped)."""
    promoted = 0
    entries = WaitlistEntry.objects.filter(reward_id=reward_id, voucher__isnull=True).order_by(
        "created_at", "id"
    )
    for entry in entries.select_related("member", "reward"):
        try:
            voucher = reward_claim(
                member=entry.member,
                reward=Reward.objects.get(pk=reward_id),
                idempotency_key=f"waitlist:{entry.pk}",
                source="system",
            )
        except SoldOutError:
            break
        except DomainError:  # cannot afford it, limit reached: the next in line
            continue
        WaitlistEntry.objects.filter(pk=entry.pk, voucher__isnull=True).update(voucher=voucher)
        promoted += 1
    return promoted


# --- partner code pools ---------------------------------------------------------------------


@dataclass
class UploadReport:
    added: int = 0
    duplicates: int = 0
    invalid: list[tuple[int, str]] | None = None


def partner_codes_upload(*, reward: Reward, lines: Iterable[str], batch: str = "") -> UploadReport:
    """Add codes to a partner reward's pool (one code per line, first column of a CSV).

    Invalid lines are reported with their line number and nothing is added if no line is
    valid; codes already in the pool (or twice in the file) are counted as duplicates. The
    reward's stock grows by the number added."""
    if reward.kind != Reward.Kind.PARTNER:
        raise RewardNotAvailableError(_("Only partner rewards have a code pool."))
    report = UploadReport(invalid=[])
    assert report.invalid is not None
    seen: set[str] = set()
    valid: list[str] = []
    for number, raw in enumerate(lines, 1):
        code = raw.split(",")[0].strip().strip('"')
        if not code or (number == 1 and code.lower() == "code"):
            continue
        if not PARTNER_CODE_RE.match(code):
            report.invalid.append((number, code[:40]))
            continue
        if code in seen:
            report.duplicates += 1
            continue
        seen.add(code)
        valid.append(code)
    if not valid:
        if report.invalid:
            raise PartnerCodesInvalidError(invalid=report.invalid[:20])
        return report
    batch = batch or timezone.now().strftime("%Y%m%d-%H%M%S")
    with transaction.atomic():
        before = PartnerCode.objects.filter(reward=reward).count()
        PartnerCode.objects.bulk_create(
            [PartnerCode(reward=reward, code=code, batch=batch) for code in valid],
            ignore_conflicts=True,
        )
        added = PartnerCode.objects.filter(reward=reward).count() - before
        Reward.objects.filter(pk=reward.pk).update(
            stock_left=Coalesce(F("stock_left"), 0) + added,
            stock_total=Coalesce(F("stock_total"), 0) + added,
        )
    report.added = added
    report.duplicates += len(valid) - added
    return report


# --- reads ----------------------------------------------------------------------------------


def vouchers_usable(*, member: Member, now: datetime.datetime | None = None) -> QuerySet[Voucher]:
    now = now or timezone.now()
    return (
        Voucher.objects.filter(member=member, status=Voucher.Status.ISSUED, valid_until__gt=now)
        .select_related("reward", "member")
        .order_by("valid_until", "id")
    )


# The vouchers page's two lists, compiled once per process (members.rows).
_USABLE: CompiledQuery[Voucher] = CompiledQuery(
    lambda member_id, now: vouchers_usable(member=member_id, now=now),
    "member_id",
    "now",
    datetimes=["now"],
)
_PAST: CompiledQuery[Voucher] = CompiledQuery(
    lambda member_id, usable_ids: (
        Voucher.objects.filter(member=member_id)
        .exclude(pk__in=usable_ids)
        .select_related("reward")
        .order_by("-issued_at")[:20]
    ),
    "member_id",
    "usable_ids",
    lists=["usable_ids"],
)


def vouchers_page_lists(*, member: Member) -> tuple[list[Voucher], list[Voucher]]:
    """The member's usable vouchers (``vouchers_usable``) and their latest 20 others."""
    usable = _USABLE(member_id=member.pk, now=timezone.now())
    return usable, _PAST(member_id=member.pk, usable_ids=[v.pk for v in usable])


def vouchers_liability(*, now: datetime.datetime | None = None) -> dict[str, Any]:
    """Vouchers outstanding (issued, still valid): how many, the points spent on them and
    the fixed SEK value of the amount-off ones, by reward kind."""
    now = now or timezone.now()
    rows = (
        Voucher.objects.filter(status=Voucher.Status.ISSUED, valid_until__gt=now)
        .values("reward__kind")
        .annotate(
            count=Count("id"),
            points=Sum("points_spent", default=0),
            value_ore=Sum("reward__amount_off_ore", default=0),
        )
        .order_by("reward__kind")
    )
    by_kind = [
        {
            "kind": row["reward__kind"],
            "label": Reward.Kind(row["reward__kind"]).label,
            "count": row["count"],
            "points": row["points"],
            "value_ore": row["value_ore"]
            if row["reward__kind"] == Reward.Kind.DISCOUNT_AMOUNT
            else 0,
        }
        for row in rows
    ]
    return {
        "by_kind": by_kind,
        "count": sum(r["count"] for r in by_kind),
        "points": sum(r["points"] for r in by_kind),
        "value_ore": sum(r["value_ore"] for r in by_kind),
        "points_value_ore": sum(r["points"] for r in by_kind) * settings.REWARDS_POINT_VALUE_ORE,
    }
