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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from members.activity import Kind as ActivityKind
from members.activity import activity_record
from members.models import Member, User
from members.rows import CompiledQuery
from members.sql_names import sql_names
from rewards.errors import BenefitAlreadyChosenError, BenefitNotAvailableError, TooManyBenefitsError
from rewards.loyalty.tier_ladder import (
    ladder,
    ladder_cached,
    qualifying_value,
    qualifying_values,
    spend_basis,
    tier_for_value,
    tier_threshold,
)
from rewards.models import (
    Benefit,
    BenefitChoice,
    MemberTier,
    Tier,
    TierChange,
)
from rewards.rules.earning import bonus_sql

# Bonus rule ids from benefits are negative so they never collide with EarningRule ids.
BENEFIT_RULE_ID_BASE = -1_000_000


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
    return _tier_change_record(
        member_id=member_id,
        from_tier_id=from_tier_id,
        to_tier=to_tier,
        reason=reason,
        value=value,
        now=now,
        purchase_id=purchase_id,
    )


def _tier_change_record(
    *,
    member_id: int,
    from_tier_id: int | None,
    to_tier: Tier,
    reason: str,
    value: int,
    now: datetime.datetime,
    purchase_id: int | None,
) -> TierChange:
    """The audit row of a tier change and its timeline event (the ``MemberTier`` row is
    written by the caller, in the same transaction)."""
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
            "from_code": change.from_tier.code if change.from_tier is not None else None,
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
    with_members: Sequence[int] = (),
) -> TierChange | None:
    """Move the member to the tier their window qualifies them for (``with_members``: also
    on what these members earned; a merge names the member it merges in).

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
        value = qualifying_value(member_id=member_id, now=now, with_members=with_members)
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
                return _tier_change_record(
                    member_id=member_id,
                    from_tier_id=None,
                    to_tier=target,
                    reason=reason,
                    value=value,
                    now=now,
                    purchase_id=purchase_id,
                )
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
        spend_basis=spend_basis(),
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
    sql_names(
        """SELECT %s::bigint - c.[BenefitChoice.benefit], b.[Benefit.name_sv],
        b.[Benefit.name_en], b.[Benefit.multiplier], b.[Benefit.category], NULL::bigint
    FROM [BenefitChoice] c JOIN [Benefit] b ON b.[Benefit.pk] = c.[BenefitChoice.benefit]
    WHERE c.[BenefitChoice.member] = (SELECT id FROM bonus_member)
        AND c.[BenefitChoice.period_start] = %s
        AND b.[Benefit.kind] = '{category_multiplier}' AND b.[Benefit.active]""",
        BenefitChoice,
        Benefit,
    ).format(category_multiplier=Benefit.Kind.CATEGORY_MULTIPLIER.value)
)
def benefit_bonus_rules(day: datetime.date) -> list[Any]:
    """Earning bonus provider: the member's chosen "extra points in a category" benefits for
    the month of ``day``."""
    return [BENEFIT_RULE_ID_BASE, day.replace(day=1)]


def member_summary_benefits(member: Member) -> dict[str, object]:
    """The identify endpoint: the benefits a till or the web shop must honour this period
    (free delivery, a partner perk)."""
    return {"benefits": [b.code for b in benefits_chosen(member=member)]}
