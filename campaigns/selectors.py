"""Reads shared by the back-office, member pages, tasks and rewards' earning hook."""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone, translation

from campaigns.models import (
    Campaign,
    ContactBudget,
    Delivery,
    FanoutChunk,
    InboxMessage,
    MemberOffer,
    Offer,
    Segment,
)
from campaigns.segments import members_matching
from campaigns.sending import audience
from campaigns.sending.channels import channel_get
from campaigns.sending.sendtime import caps_for, week_of
from consent.models import Interest, Purpose
from consent.selectors import contact_permissions
from members.models import Member, Store
from members.rows import CompiledQuery
from members.sql_names import sql_names
from rewards.models import (
    Category,
    EarningRule,
    Product,
    PurchaseLine,
    Reward,
    Tier,
    Voucher,
)
from rewards.rules.earning import bonus_sql


def segment_members(segment: Segment) -> QuerySet[Member]:
    campaign = Campaign(segment=segment)
    return audience.audience(campaign)


def segment_count(criteria: dict[str, Any] | None) -> int:
    return members_matching(criteria).count()


def segment_sample(criteria: dict[str, Any] | None, *, size: int = 10) -> list[Member]:
    """A few matching members for the builder (name and number only are shown)."""
    return list(members_matching(criteria).order_by("-pk")[:size])


# A catalogue with more products than this is not sent to the builder as a list: the SKUs
# are typed there instead.
BUILDER_PRODUCTS_MAX = 500


def segment_builder_choices(language: str) -> dict[str, list[dict[str, str]] | None]:
    """What the segment builder lists for each condition whose values are codes: ``code`` and
    ``label`` in ``language`` (stores, categories and products by name, tiers, interests and
    purposes by their name in that language, channels and languages by their label). The
    value ``None`` means "no list: type the codes" (a product catalogue above
    ``BUILDER_PRODUCTS_MAX``)."""
    swedish = language.startswith("sv")

    def named(sv: str, en: str) -> str:
        return sv if swedish else en

    with translation.override(language):
        channels = [{"code": c, "label": str(label)} for c, label in Store.Kind.choices]
        languages = [{"code": c, "label": str(label)} for c, label in Member.Language.choices]
    products: list[dict[str, str]] | None = None
    if Product.objects.count() <= BUILDER_PRODUCTS_MAX:
        products = [
            {"code": p.sku, "label": f"{p.name} ({p.sku})" if p.name else p.sku}
            for p in Product.objects.order_by("name", "sku")
        ]
    return {
        "tier": [
            {"code": t.code, "label": named(t.name_sv, t.name_en)}
            for t in Tier.objects.order_by("rank", "code")
        ],
        "store": [
            {"code": s.code, "label": s.name or s.code}
            for s in Store.objects.order_by("kind", "name", "code")
        ],
        "bought_category": [
            {"code": c.code, "label": c.name or c.code}
            for c in Category.objects.order_by("name", "code")
        ],
        "bought_product": products,
        "channel": channels,
        "language": languages,
        "interest": [
            {"code": i.code, "label": named(i.name_sv, i.name_en)}
            for i in Interest.objects.order_by("order", "code")
        ],
        "consent": [
            {"code": p.code, "label": named(p.name_sv, p.name_en)}
            for p in Purpose.objects.order_by("order", "code")
        ],
    }


def reward_choices(language: str) -> list[tuple[str, str]]:
    """The catalogue for a reward offer's list: (code, "name (code)") in ``language``,
    rewards that can still be given first."""
    swedish = language.startswith("sv")
    return [
        (code, f"{name_sv if swedish else name_en} ({code})")
        for code, name_sv, name_en in Reward.objects.order_by(
            "-active", "name_sv", "code"
        ).values_list("code", "name_sv", "name_en")
    ]


def campaign_progress(campaign: Campaign) -> dict[str, Any]:
    """Counters for the progress bar: sent / suppressed / failed / remaining / control."""
    counts = dict(
        Delivery.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    chunks = FanoutChunk.objects.filter(campaign=campaign).aggregate(
        total=Count("pk"), done=Count("pk", filter=~_null("done_at"))
    )
    sent = counts.get("sent", 0)
    suppressed = counts.get("suppressed", 0)
    failed = counts.get("failed", 0)
    cancelled = counts.get("cancelled", 0)
    remaining = counts.get("pending", 0) + counts.get("sending", 0)
    contacted = sent + suppressed + failed + cancelled + remaining
    finished = sent + suppressed + failed + cancelled
    fanned = chunks["total"] == chunks["done"]
    percent = (
        100
        if campaign.status == Campaign.Status.DONE
        else (int(finished * 100 / contacted) if contacted and fanned else 0)
    )
    reasons = dict(
        Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SUPPRESSED)
        .values_list("reason")
        .annotate(n=Count("pk"))
        .values_list("reason", "n")
    )
    return {
        "status": campaign.status,
        "sent": sent,
        "suppressed": suppressed,
        "failed": failed,
        "cancelled": cancelled,
        "remaining": remaining,
        "control": counts.get("control", 0),
        "percent": percent,
        "reasons": reasons,
        "chunks_total": chunks["total"],
        "chunks_done": chunks["done"],
    }


def _null(field: str) -> Any:
    from django.db.models import Q

    return Q(**{f"{field}__isnull": True})


# Read on "My pages" and the offers page for every view: compiled once (members.rows).
_MEMBER_OFFERS: CompiledQuery[MemberOffer] = CompiledQuery(
    lambda member_id, now: (
        MemberOffer.objects.filter(member_id=member_id)
        # expired ones leave: not activated by their last day, or active and ended
        .exclude(status=MemberOffer.Status.AVAILABLE, available_until__lt=now)
        .exclude(status=MemberOffer.Status.ACTIVE, active_until__lt=now)
        # the campaign's segment too: its criteria say why the offer came (an offer's
        # reason, campaigns.personalisation.segment_reasons) without a query of their own
        .select_related(
            "offer", "offer__category", "offer__product", "campaign", "campaign__segment"
        )
        .order_by("-created_at", "-id")
    ),
    "member_id",
    "now",
    datetimes=["now"],
)
_MEMBER_INBOX: dict[int, CompiledQuery[InboxMessage]] = {}  # by limit (LIMIT is no parameter)


def member_offers(*, member: Member, now: datetime.datetime | None = None) -> list[MemberOffer]:
    """The member's offers that have not expired (docs/campaigns.md "Offers"), newest first:
    available until their last day to activate, active until they end, and used ones."""
    return _MEMBER_OFFERS(member_id=member.pk, now=now or timezone.now())


# The idempotency key of a reward offer's grant: it ties the voucher to the member offer
# (rewards stores it as the voucher's claim key, "grant:offer:<member offer id>").
REWARD_OFFER_KEY = "offer:{}"


def offer_vouchers(*, member_offer_ids: list[int]) -> dict[int, Any]:
    """The voucher each collected reward offer issued, by member offer id (one query)."""
    keys = {f"grant:{REWARD_OFFER_KEY.format(pk)}": pk for pk in member_offer_ids}
    if not keys:
        return {}
    return {
        keys[v.claim_key]: v
        for v in Voucher.objects.filter(claim_key__in=list(keys)).select_related("reward")
    }


def member_inbox(*, member: Member, limit: int = 20) -> list[InboxMessage]:
    query = _MEMBER_INBOX.get(limit)
    if query is None:
        query = _MEMBER_INBOX[limit] = CompiledQuery(
            lambda member_id: InboxMessage.objects.filter(member_id=member_id).order_by(
                "-created_at", "-id"
            )[:limit],
            "member_id",
        )
    return query(member_id=member.pk)


@bonus_sql(
    sql_names(
        """SELECT -mo.[MemberOffer.pk], o.[Offer.title_sv], o.[Offer.title_en],
        o.[Offer.multiplier], o.[Offer.category], o.[Offer.product]
    FROM [MemberOffer] mo JOIN [Offer] o ON o.[Offer.pk] = mo.[MemberOffer.offer]
    WHERE mo.[MemberOffer.member] = (SELECT id FROM bonus_member)
        AND mo.[MemberOffer.status] = '{active}' AND o.[Offer.kind] = '{bonus_points}'
        AND (mo.[MemberOffer.activated_at] AT TIME ZONE %s)::date <= %s
        AND (mo.[MemberOffer.active_until] AT TIME ZONE %s)::date >= %s""",
        MemberOffer,
        Offer,
    ).format(active=MemberOffer.Status.ACTIVE.value, bonus_points=Offer.Kind.BONUS_POINTS.value)
)
def bonus_rules(day: datetime.date) -> list[Any]:
    """The member's activated bonus offers as earning multipliers (rewards' bonus provider):
    active on ``day`` in local time. Ids are negative (minus the member offer's id) so they
    never collide with rules."""
    zone = timezone.get_current_timezone_name()
    return [zone, day, zone, day]


SIMULATION_SAMPLE = 20_000


def campaign_simulate(
    campaign: Campaign, *, at: datetime.datetime | None = None, sample: int = SIMULATION_SAMPLE
) -> dict[str, Any]:
    """Who would be reached, per variant and channel, who suppressed and why, and the cost,
    if the campaign were sent at ``at`` (default: its send time, or now). Reads only.

    Large audiences are simulated on a stable-hash sample and scaled up (``scale``).
    """
    at = at or campaign.send_at or timezone.now()
    if at < timezone.now():
        at = timezone.now()
    variants = list(campaign.variants.select_related("offer").order_by("code"))
    members = audience.audience(campaign)
    total = members.count()
    if campaign.test_group_size is not None:
        total = min(total, campaign.test_group_size)
    ids = list(
        members.order_by(
            audience.HashBucket(audience.salt(campaign.pk, "sample")).asc(), "pk"
        ).values_list("pk", flat=True)[: min(total, sample)]
    )
    scale = total / len(ids) if ids else 1.0
    reached: Counter[tuple[str, str]] = Counter()
    suppressed: Counter[str] = Counter()
    control = 0
    by_variant: dict[int, str] = {v.pk: v.code for v in variants}
    remaining = list(ids)
    assignment = {}
    for member_id in ids:
        variant_id, is_control = (
            audience.assign(campaign, variants, member_id) if variants else (0, False)
        )
        if is_control:
            control += 1
        else:
            assignment[member_id] = variant_id
    remaining = [m for m in ids if m in assignment]
    caps = caps_for(remaining)
    week = week_of(at)
    used = dict(
        ContactBudget.objects.filter(member_id__in=remaining, week=week).values_list(
            "member_id", "used"
        )
    )
    waiting = set(remaining)
    last_reason: dict[int, str] = {}
    for channel_name in campaign.channels:
        if not waiting:
            break
        channel = channel_get(channel_name)
        decisions = contact_permissions(
            member_ids=waiting, purpose=channel.purpose, channel=channel.consent_channel, at=at
        )
        next_round = set()
        for member_id in sorted(waiting):
            decision = decisions[member_id]
            if decision.allowed:
                if used.get(member_id, 0) >= caps[member_id]:
                    suppressed["contact_limit"] += 1
                else:
                    reached[(by_variant.get(assignment[member_id], "?"), channel_name)] += 1
            elif decision.reason in (
                "no_consent",
                "withdrawn",
                "quiet_hours",
                "channel_not_covered",
            ):
                next_round.add(member_id)
                last_reason[member_id] = decision.reason
            else:
                suppressed[decision.reason] += 1
        waiting = next_round
    for member_id in waiting:
        # No channel left: suppressed for the last channel's reason, as the engine records it.
        suppressed[last_reason[member_id]] += 1
    reached_total = sum(reached.values())
    cost = _cost(campaign, variants, reached, scale, assignment)
    return {
        "audience": total,
        "sampled": len(ids),
        "scale": round(scale, 3),
        "control": round(control * scale),
        "reached": {f"{k[0]}/{k[1]}": round(v * scale) for k, v in sorted(reached.items())},
        "reached_total": round(reached_total * scale),
        "suppressed": {k: round(v * scale) for k, v in sorted(suppressed.items())},
        "suppressed_total": round(sum(suppressed.values()) * scale),
        **cost,
    }


def _cost(
    campaign: Campaign,
    variants: list[Any],
    reached: Counter[tuple[str, str]],
    scale: float,
    assignment: dict[int, int],
) -> dict[str, Any]:
    """Estimated bonus points (last period's spend in the offer's category x the extra
    multiplier x the base rate) and vouchers/invitations handed out: at most the reward's
    stock left, each worth its points price (given as a gift, so counted at that value)."""
    base = EarningRule.objects.filter(kind="base", active=True).order_by("-priority").first()
    rate = base.rate if base else Decimal("1")
    points = Decimal(0)
    rewards = 0
    reward_points = 0
    rewards_short = 0
    codes = {v.offer.reward_code for v in variants if v.offer and v.offer.kind == Offer.Kind.REWARD}
    catalogue = {r.code: r for r in Reward.objects.filter(code__in=codes)} if codes else {}
    # The stock left is shared by every variant that offers the same reward.
    stock_left = {code: r.stock_left for code, r in catalogue.items()}
    by_code = {v.code: v for v in variants}
    reached_by_variant: dict[str, int] = defaultdict(int)
    for (code, _channel), n in reached.items():
        reached_by_variant[code] += n
    for code, n in reached_by_variant.items():
        variant = by_code.get(code)
        offer = variant.offer if variant else None
        if variant is None or offer is None:
            continue
        if offer.kind == Offer.Kind.REWARD:
            reward = catalogue.get(offer.reward_code)
            wanted = round(n * scale)
            left = stock_left.get(offer.reward_code) if reward is not None else 0
            issued = wanted if left is None else min(wanted, left)
            if left is not None:
                stock_left[offer.reward_code] = left - issued
            rewards += issued
            rewards_short += wanted - issued
            reward_points += issued * (reward.points_cost if reward is not None else 0)
        elif offer.kind == Offer.Kind.BONUS_POINTS:
            members = [m for m, v in assignment.items() if v == variant.pk]
            since = timezone.now() - datetime.timedelta(days=offer.bonus_days)
            lines = PurchaseLine.objects.filter(
                purchase__member_id__in=members, purchase__purchased_at__gte=since
            )
            if offer.category_id:
                lines = lines.filter(category_id=offer.category_id)
            if offer.product_id:
                lines = lines.filter(product_id=offer.product_id)
            spend = lines.aggregate(s=Sum("unit_price_ore"))["s"] or 0
            points += Decimal(spend) / 100 * rate * (offer.multiplier - 1)
    point_value = settings.REWARDS_POINT_VALUE_ORE
    est_points = int(points * Decimal(scale))
    return {
        "cost_points": est_points,
        "cost_sek": round(est_points * point_value / 100, 2),
        "cost_rewards": rewards,
        "cost_reward_points": reward_points,
        "cost_reward_sek": round(reward_points * point_value / 100, 2),
        # Members who would be offered a reward that has no stock left for them.
        "rewards_short": rewards_short,
    }
