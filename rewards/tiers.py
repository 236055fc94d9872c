"""The loyalty ladder: qualification, upgrades, the nightly re-evaluation with a grace period
before any downgrade, and "choose your benefit" (docs/rewards.md).

A member qualifies on points *earned* (earn entries from purchases, event rules and
campaigns, less what returns took back) or on *spend*, over a rolling window
(``REWARDS_TIER_BASIS``, ``REWARDS_TIER_WINDOW_DAYS``). Spending points never lowers a tier.

Lock order: a purchase holds its purchase row and the member's balance row when it calls
:func:`tier_upgrade_for_purchase`; tier code then locks only the ``MemberTier`` row, so the
nightly job (which takes only that row) can never deadlock with a till.
"""

from __future__ import annotations

import datetime
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.activity import Kind as ActivityKind
from members.activity import activity_record
from members.errors import ConflictError, DomainError
from members.models import Member, User
from members.rows import CompiledQuery, CompiledValues
from rewards.earning import bonus_sql
from rewards.models import (
    Benefit,
    BenefitChoice,
    LedgerEntry,
    MemberTier,
    Purchase,
    Tier,
    TierChange,
)

EARNED_CAUSES = [
    LedgerEntry.Cause.PURCHASE,
    LedgerEntry.Cause.RULE,
    LedgerEntry.Cause.CAMPAIGN,
]
# Bonus rule ids from benefits are negative so they never collide with EarningRule ids.
BENEFIT_RULE_ID_BASE = -1_000_000


class BenefitAlreadyChosenError(ConflictError):
    code = "benefit_already_chosen"
    default_message = _("You have already chosen your benefits for this period.")


class BenefitNotAvailableError(DomainError):
    code = "benefit_not_available"
    default_message = _("That benefit is not available in your tier.")


class TooManyBenefitsError(DomainError):
    code = "too_many_benefits"
    default_message = _("Your tier lets you choose fewer benefits than that.")


# --- qualification --------------------------------------------------------------------------


def _window_start(now: datetime.datetime) -> datetime.datetime:
    return now - datetime.timedelta(days=settings.REWARDS_TIER_WINDOW_DAYS)


def _spend_basis() -> bool:
    return settings.REWARDS_TIER_BASIS == "spend"


def _qualifying_rows(
    *,
    since: datetime.datetime,
    now: datetime.datetime,
    member_ids: list[int] | None = None,
    member_id: int | None = None,
) -> Any:
    """Points earned (or öre spent) in the window as ``{"member_id", "value"}`` rows."""
    rows: Any
    if _spend_basis():
        purchases = Purchase.objects.filter(
            member__isnull=False, purchased_at__gte=since, purchased_at__lte=now
        )
        if member_ids is not None:
            purchases = purchases.filter(member_id__in=member_ids)
        if member_id is not None:
            purchases = purchases.filter(member_id=member_id)
        rows = purchases.values("member_id").annotate(value=Sum("total_ore"))
    else:
        entries = LedgerEntry.objects.filter(created_at__gte=since, created_at__lte=now)
        if member_ids is not None:
            entries = entries.filter(member_id__in=member_ids)
        if member_id is not None:
            entries = entries.filter(member_id=member_id)
        rows = entries.values("member_id").annotate(
            value=Sum(
                "points", filter=Q(kind=LedgerEntry.Kind.EARN, cause__in=EARNED_CAUSES), default=0
            )
            - Sum(
                "points",
                filter=Q(kind=LedgerEntry.Kind.REVERSE, cause=LedgerEntry.Cause.RETURN),
                default=0,
            )
        )
    return rows


def qualifying_values(
    *, member_ids: list[int] | None = None, now: datetime.datetime | None = None
) -> dict[int, int]:
    """Points earned (or öre spent) in the window, per member, in one query."""
    now = now or timezone.now()
    rows = _qualifying_rows(since=_window_start(now), now=now, member_ids=member_ids)
    return {row["member_id"]: max(0, row["value"] or 0) for row in rows}


# One member's value (the tier panel on "My pages", tier evaluation), compiled once per
# process and basis (members.rows): the same statement as ``qualifying_values`` for one id.
_QUALIFYING_ONE: dict[bool, CompiledValues] = {}


def qualifying_value(*, member_id: int, now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    basis = _spend_basis()
    query = _QUALIFYING_ONE.get(basis)
    if query is None:
        query = _QUALIFYING_ONE[basis] = CompiledValues(
            lambda member_id, since, now: _qualifying_rows(
                member_id=member_id, since=since, now=now
            ),
            "member_id",
            "since",
            "now",
            datetimes=["since", "now"],
        )
    rows = query(member_id=member_id, since=_window_start(now), now=now)
    return max(0, rows[0]["value"] or 0) if rows else 0


def tier_threshold(tier: Tier) -> int:
    return tier.threshold_spend_ore if _spend_basis() else tier.threshold_points


def ladder() -> list[Tier]:
    return list(Tier.objects.order_by("rank", "pk"))


# The purchase path reads the ladder from a per-process snapshot, refreshed like the earning
# rules every ``REWARDS_RULES_CACHE_SECONDS``: a tier added or re-ranked by staff applies to
# purchases within that time, and the nightly re-evaluation (which reads it fresh) is exact.
_ladder_lock = threading.Lock()
_ladder_cache: dict[str, Any] = {"until": 0.0, "tiers": []}


def ladder_cached() -> list[Tier]:
    now = time.monotonic()
    if _ladder_cache["until"] > now:
        return list(_ladder_cache["tiers"])
    with _ladder_lock:
        if _ladder_cache["until"] <= now:
            _ladder_cache["tiers"] = ladder()
            _ladder_cache["until"] = now + settings.REWARDS_RULES_CACHE_SECONDS
        return list(_ladder_cache["tiers"])


def ladder_cache_clear() -> None:
    with _ladder_lock:
        _ladder_cache["until"] = 0.0


def tier_for_value(value: int, tiers: list[Tier]) -> Tier | None:
    """The highest tier whose threshold ``value`` reaches."""
    best = None
    for tier in tiers:
        if value >= tier_threshold(tier) and (best is None or tier.rank >= best.rank):
            best = tier
    return best


# --- changes --------------------------------------------------------------------------------


def _tier_change(
    *,
    member_id: int,
    member_tier: MemberTier | None,
    to_tier: Tier,
    reason: str,
    value: int,
    now: datetime.datetime,
    purchase_id: int | None = None,
) -> TierChange:
    from_tier_id = member_tier.tier_id if member_tier else None
    if member_tier is None:
        MemberTier.objects.create(member_id=member_id, tier=to_tier, since=now)
    else:
        MemberTier.objects.filter(pk=member_tier.pk).update(
            tier=to_tier, since=now, below_since=None
        )
    change = TierChange.objects.create(
        member_id=member_id,
        from_tier_id=from_tier_id,
        to_tier=to_tier,
        reason=reason,
        qualifying_value=value,
        purchase_id=purchase_id,
        created_at=now,
    )
    activity_record(
        member=Member(pk=member_id),
        kind=ActivityKind.TIER_CHANGED,
        data={
            "from": from_tier_id,
            "to": to_tier.pk,
            "to_code": to_tier.code,
            "reason": reason,
            "change_id": change.pk,
        },
    )
    return change


def _lock_member_tier(member_id: int) -> MemberTier | None:
    return MemberTier.objects.select_for_update().filter(member_id=member_id).first()


def tier_evaluate(
    *,
    member_id: int,
    reason: str = TierChange.Reason.REEVALUATION,
    allow_downgrade: bool = True,
    purchase_id: int | None = None,
    now: datetime.datetime | None = None,
    tiers: list[Tier] | None = None,
) -> TierChange | None:
    """Move the member to the tier their window qualifies them for.

    Upgrades happen at once. A member below their tier's threshold keeps it for
    ``REWARDS_TIER_GRACE_DAYS`` from the first evaluation that saw them below it
    (``below_since``), then drops to the tier they qualify for; qualifying again in between
    clears the grace clock. Returns the change, if any."""
    now = now or timezone.now()
    tiers = tiers if tiers is not None else ladder()
    if not tiers:
        return None
    with transaction.atomic():
        # A first tier for a member is created under the unique member index: the loser of
        # two concurrent creations waits, then sees the winner's row and re-evaluates.
        member_tier = _lock_member_tier(member_id)
        value = qualifying_value(member_id=member_id, now=now)
        target = tier_for_value(value, tiers)
        if target is None:
            return None
        if member_tier is None:
            MemberTier.objects.bulk_create(
                [MemberTier(member_id=member_id, tier=target, since=now)], ignore_conflicts=True
            )
            member_tier = _lock_member_tier(member_id)
            assert member_tier is not None
            if member_tier.tier_id == target.pk and member_tier.since == now:
                change = TierChange.objects.create(
                    member_id=member_id,
                    from_tier=None,
                    to_tier=target,
                    reason=reason,
                    qualifying_value=value,
                    purchase_id=purchase_id,
                    created_at=now,
                )
                activity_record(
                    member=Member(pk=member_id),
                    kind=ActivityKind.TIER_CHANGED,
                    data={
                        "from": None,
                        "to": target.pk,
                        "to_code": target.code,
                        "reason": reason,
                        "change_id": change.pk,
                    },
                )
                return change
        current = next((t for t in tiers if t.pk == member_tier.tier_id), None)
        current_rank = current.rank if current else -1
        if target.rank > current_rank:
            return _tier_change(
                member_id=member_id,
                member_tier=member_tier,
                to_tier=target,
                reason=reason,
                value=value,
                now=now,
                purchase_id=purchase_id,
            )
        if target.rank == current_rank:
            if member_tier.below_since is not None:
                MemberTier.objects.filter(pk=member_tier.pk).update(below_since=None)
            return None
        if not allow_downgrade:
            return None
        if member_tier.below_since is None:
            MemberTier.objects.filter(pk=member_tier.pk).update(below_since=now)
            return None
        if now - member_tier.below_since < datetime.timedelta(
            days=settings.REWARDS_TIER_GRACE_DAYS
        ):
            return None
        return _tier_change(
            member_id=member_id,
            member_tier=member_tier,
            to_tier=target,
            reason=TierChange.Reason.GRACE_ENDED,
            value=value,
            now=now,
        )


_UNKNOWN: Any = object()


def tier_upgrade_for_purchase(
    *, member_id: int, purchase_id: int, held: MemberTier | None = _UNKNOWN
) -> TierChange | None:
    """Called by ``purchase_record`` inside its transaction, after the earn entry: the
    purchase that crosses the threshold upgrades the member at once (never downgrades).

    ``held``: the member's tier row as the purchase read it (None: no tier yet). Then a
    member whose qualifying value reaches no tier above it, and who is not in a grace
    period, costs one query and no lock: the top tier costs none. Only a purchase that may
    upgrade takes the locked evaluation, which decides afresh. A tier changed by the
    nightly job between that read and this check applies from the member's next purchase
    or the next night."""
    tiers = ladder_cached()
    if not tiers:
        return None
    if held is not _UNKNOWN and (held is None or held.below_since is None):
        current = next((t for t in tiers if held is not None and t.pk == held.tier_id), None)
        rank = current.rank if current is not None else -1
        if held is not None and current is not None and rank >= max(t.rank for t in tiers):
            return None
        target = tier_for_value(qualifying_value(member_id=member_id), tiers)
        if target is None or target.rank <= rank:
            return None
    return tier_evaluate(
        member_id=member_id,
        reason=TierChange.Reason.PURCHASE,
        allow_downgrade=False,
        purchase_id=purchase_id,
        tiers=tiers,
    )


def tiers_reevaluate(*, now: datetime.datetime | None = None) -> int:
    """Nightly: every member with a tier or with qualifying activity in the window, checked
    against the ladder. Members whose tier is already right (and not in grace) cost no lock.
    Returns the number of tier changes. Running it twice changes nothing more."""
    now = now or timezone.now()
    tiers = ladder()
    if not tiers:
        return 0
    values = qualifying_values(now=now)
    current = {
        mt.member_id: mt
        for mt in MemberTier.objects.filter(member__erased_at__isnull=True).select_related("tier")
    }
    member_ids = sorted(set(values) | set(current))
    erased = set(
        Member.objects.filter(pk__in=member_ids, erased_at__isnull=False).values_list(
            "pk", flat=True
        )
    )
    changes = 0
    for member_id in member_ids:
        if member_id in erased:
            continue
        target = tier_for_value(values.get(member_id, 0), tiers)
        member_tier = current.get(member_id)
        if (
            member_tier is not None
            and target is not None
            and member_tier.tier_id == target.pk
            and member_tier.below_since is None
        ):
            continue
        if target is None and member_tier is None:
            continue
        if tier_evaluate(member_id=member_id, now=now, tiers=tiers) is not None:
            changes += 1
    return changes


# --- progress (reads for the member pages) --------------------------------------------------


@dataclass(frozen=True)
class TierProgress:
    tiers: list[Tier]
    current: Tier | None
    value: int
    next_tier: Tier | None
    remaining: int
    percent: int
    spend_basis: bool
    below_since: datetime.datetime | None
    downgrade_on: datetime.date | None


# ``MemberTier.objects.filter(member=member).first()``, compiled once (members.rows).
_MEMBER_TIER: CompiledQuery[MemberTier] = CompiledQuery(
    lambda member_id: MemberTier.objects.filter(member=member_id).order_by("pk")[:1], "member_id"
)


def tier_progress(*, member: Member, now: datetime.datetime | None = None) -> TierProgress:
    """Where the member stands on the ladder. The ladder is the per-process snapshot the
    purchase path uses (configuration, refreshed every ``REWARDS_RULES_CACHE_SECONDS``)."""
    now = now or timezone.now()
    tiers = ladder_cached()
    found = _MEMBER_TIER(member_id=member.pk)
    member_tier = found[0] if found else None
    current = next((t for t in tiers if member_tier and t.pk == member_tier.tier_id), None)
    value = qualifying_value(member_id=member.pk, now=now)
    higher = [t for t in tiers if current is None or t.rank > current.rank]
    next_tier = higher[0] if higher else None
    remaining = max(0, tier_threshold(next_tier) - value) if next_tier else 0
    percent = 100
    if next_tier is not None:
        low = tier_threshold(current) if current else 0
        span = max(1, tier_threshold(next_tier) - low)
        percent = max(0, min(100, (value - low) * 100 // span))
    below = member_tier.below_since if member_tier else None
    downgrade_on = (
        timezone.localtime(below + datetime.timedelta(days=settings.REWARDS_TIER_GRACE_DAYS)).date()
        if below
        else None
    )
    return TierProgress(
        tiers=tiers,
        current=current,
        value=value,
        next_tier=next_tier,
        remaining=remaining,
        percent=percent,
        spend_basis=_spend_basis(),
        below_since=below,
        downgrade_on=downgrade_on,
    )


# --- choose your benefit --------------------------------------------------------------------


def benefit_period_start(now: datetime.datetime | None = None) -> datetime.date:
    """Benefits are chosen per calendar month (Stockholm)."""
    return timezone.localtime(now or timezone.now()).date().replace(day=1)


def benefits_available(*, member: Member) -> list[Benefit]:
    member_tier = MemberTier.objects.filter(member=member).select_related("tier").first()
    if member_tier is None:
        return []
    return list(
        Benefit.objects.filter(active=True, min_tier__rank__lte=member_tier.tier.rank)
        .select_related("min_tier", "category")
        .order_by("min_tier__rank", "code")
    )


def benefits_chosen(*, member: Member, now: datetime.datetime | None = None) -> list[Benefit]:
    return [
        choice.benefit
        for choice in BenefitChoice.objects.filter(
            member=member, period_start=benefit_period_start(now)
        ).select_related("benefit", "benefit__category")
    ]


def benefit_choose(
    *,
    member: Member,
    benefit_ids: list[int],
    actor: User | None = None,
    now: datetime.datetime | None = None,
) -> list[BenefitChoice]:
    """Choose this period's benefits (as many as the tier allows). The choice holds until the
    next period: a second choice in the same period is refused."""
    now = now or timezone.now()
    period = benefit_period_start(now)
    wanted = sorted(set(benefit_ids))
    if not wanted:
        raise BenefitNotAvailableError()
    with transaction.atomic():
        # The member's tier row serialises two choices at once (two tabs, a double click).
        member_tier = (
            MemberTier.objects.select_for_update()
            .filter(member=member)
            .select_related("tier")
            .first()
        )
        if member_tier is None:
            raise BenefitNotAvailableError()
        if len(wanted) > member_tier.tier.benefit_picks:
            raise TooManyBenefitsError(allowed=member_tier.tier.benefit_picks)
        if BenefitChoice.objects.filter(member=member, period_start=period).exists():
            raise BenefitAlreadyChosenError()
        allowed = {b.pk for b in benefits_available(member=member)}
        if not set(wanted) <= allowed:
            raise BenefitNotAvailableError()
        choices = BenefitChoice.objects.bulk_create(
            [
                BenefitChoice(member=member, benefit_id=pk, period_start=period, created_at=now)
                for pk in wanted
            ]
        )
        activity_record(
            member=member,
            kind=ActivityKind.BENEFIT_CHOSEN,
            data={"benefit_ids": wanted, "period": period.isoformat()},
            source="web",
            actor=actor,
        )
    return choices


@bonus_sql(
    """SELECT %s::bigint - c.benefit_id, b.name_sv, b.name_en, b.multiplier,
        b.category_id, NULL::bigint
    FROM rewards_benefitchoice c JOIN rewards_benefit b ON b.id = c.benefit_id
    WHERE c.member_id = (SELECT id FROM bonus_member) AND c.period_start = %s
        AND b.kind = 'category_multiplier' AND b.active"""
)
def benefit_bonus_rules(day: datetime.date) -> list[Any]:
    """Earning bonus provider: the member's chosen "extra points in a category" benefits for
    the month of ``day``."""
    return [BENEFIT_RULE_ID_BASE, day.replace(day=1)]


def member_summary_benefits(member: Member) -> dict[str, object]:
    """The identify endpoint: the benefits a till or the web shop must honour this period
    (free delivery, a partner perk)."""
    return {"benefits": [b.code for b in benefits_chosen(member=member)]}
