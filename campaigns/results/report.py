"""Campaign results: the funnel per variant, revenue uplift against the control group with a
95 % confidence interval and a plain-language verdict, and "promote the winner".

Reads ``Delivery`` rows: ``sent`` rows are contacted members (anchored at ``sent_at``),
``control`` rows are the holdout group (anchored at ``created_at``, the moment they were
selected instead of contacted). Each member's outcome is their net revenue (purchase total
minus returned lines) and number of purchases in ``[anchor, anchor + goal_days)``; members
who bought nothing count as zero. Uplift = mean(contacted) - mean(control), Welch's t
interval (``campaigns.results_stats``). docs/personalisation.md, "Results".
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Min, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.errors import NoClearWinnerError, PromoteNotAllowedError
from campaigns.models import Campaign, Delivery, Variant
from campaigns.results.stats import Interval, Sample, welch_interval
from campaigns.sending.fanout import campaign_promote_start
from members.errors import NotFoundError
from rewards.models import Purchase, PurchaseLine

CONTACTED = Delivery.Status.SENT
CONTROL = Delivery.Status.CONTROL
METRICS = ("revenue", "purchases")
MEMBER_CHUNK = 5000


def _min_group_size() -> int:
    return int(getattr(settings, "RESULTS_MIN_GROUP_SIZE", 20))


# --- the funnel ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    """Members per stage for one variant (or the whole campaign when ``variant_id`` is None)."""

    variant_id: int | None
    code: str
    audience: int
    delivered: int
    opened: int
    clicked: int
    activated: int
    redeemed: int
    suppressed: int
    failed: int
    control: int

    def rate(self, stage: str) -> float:
        return getattr(self, stage) / self.delivered if self.delivered else 0.0


def _deliveries(campaign: Campaign, occurrence: str | None) -> Any:
    qs = Delivery.objects.filter(campaign=campaign)
    if occurrence is not None:
        qs = qs.filter(occurrence=occurrence)
    return qs


def campaign_funnel(*, campaign: Campaign, occurrence: str | None = None) -> list[Funnel]:
    """Delivered, opened, clicked, activated, redeemed (distinct members) per variant, and a
    total row last. One grouped query."""

    def distinct(condition: Q) -> Count:
        return Count("member_id", filter=condition, distinct=True)

    stages = {
        "audience": distinct(~Q(status=CONTROL)),
        "delivered": distinct(Q(status=CONTACTED)),
        "opened": distinct(Q(status=CONTACTED, opened_at__isnull=False)),
        "clicked": distinct(Q(status=CONTACTED, clicked_at__isnull=False)),
        "activated": distinct(Q(status=CONTACTED, activated_at__isnull=False)),
        "redeemed": distinct(Q(status=CONTACTED, redeemed_at__isnull=False)),
        "suppressed": distinct(Q(status=Delivery.Status.SUPPRESSED)),
        "failed": distinct(Q(status=Delivery.Status.FAILED)),
        "control": distinct(Q(status=CONTROL)),
    }
    qs = _deliveries(campaign, occurrence)
    codes = dict(Variant.objects.filter(campaign=campaign).values_list("pk", "code"))
    rows = [
        Funnel(
            variant_id=r["variant_id"],
            code=codes.get(r["variant_id"], "–"),
            **{k: r[k] for k in stages},
        )
        for r in qs.values("variant_id").annotate(**stages).order_by("variant_id")
    ]
    rows = [r for r in rows if r.variant_id is not None or r.audience]
    total = qs.aggregate(**stages)
    rows.append(Funnel(variant_id=None, code="", **{k: total[k] or 0 for k in stages}))
    return rows


# --- outcomes in the goal window ---------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    revenue_ore: int = 0
    purchases: int = 0


def member_outcomes(*, anchors: dict[int, datetime.datetime], days: int) -> dict[int, Outcome]:
    """Net revenue (öre) and purchases of each member in ``[anchor, anchor + days)``.

    Every member in ``anchors`` is in the answer (zero when they bought nothing). Purchases
    are read in chunks of members; returned lines are subtracted from the purchase total.
    """
    window = datetime.timedelta(days=days)
    revenue: dict[int, int] = defaultdict(int)
    counts: dict[int, int] = defaultdict(int)
    ids = sorted(anchors)
    for start in range(0, len(ids), MEMBER_CHUNK):
        chunk = ids[start : start + MEMBER_CHUNK]
        first = min(anchors[m] for m in chunk)
        last = max(anchors[m] for m in chunk) + window
        rows = (
            Purchase.objects.filter(
                member_id__in=chunk, purchased_at__gte=first, purchased_at__lt=last
            )
            .annotate(
                returned=Coalesce(
                    Sum(F("lines__returned_quantity") * F("lines__unit_price_ore")), Value(0)
                )
            )
            .values_list("member_id", "purchased_at", "total_ore", "returned")
        )
        for member_id, purchased_at, total_ore, returned in rows:
            anchor = anchors[member_id]
            if anchor <= purchased_at < anchor + window:
                revenue[member_id] += max(total_ore - int(returned or 0), 0)
                counts[member_id] += 1
    return {m: Outcome(revenue_ore=revenue.get(m, 0), purchases=counts.get(m, 0)) for m in ids}


def campaign_outcomes(
    *, campaign: Campaign, occurrence: str | None, anchors: dict[int, datetime.datetime]
) -> dict[int, Outcome]:
    """:func:`member_outcomes` for the members of one campaign, in two queries.

    The purchases are selected with a semi-join on the campaign's delivery rows (no list of
    100 000 member ids sent to the database) over the span of every member's window, and
    each is then kept only inside its own member's window; returned lines come from a
    second query, only where something was returned.
    """
    if not anchors:
        return {}
    window = datetime.timedelta(days=campaign.goal_days)
    members = (
        _deliveries(campaign, occurrence)
        .filter(status__in=(CONTACTED, CONTROL))
        .values("member_id")
    )
    purchases = Purchase.objects.filter(
        member_id__in=members,
        purchased_at__gte=min(anchors.values()),
        purchased_at__lt=max(anchors.values()) + window,
    )
    returned = dict(
        PurchaseLine.objects.filter(returned_quantity__gt=0, purchase__in=purchases)
        .values("purchase_id")
        .annotate(value=Sum(F("returned_quantity") * F("unit_price_ore")))
        .values_list("purchase_id", "value")
    )
    revenue: dict[int, int] = defaultdict(int)
    counts: dict[int, int] = defaultdict(int)
    for pk, member_id, purchased_at, total_ore in purchases.values_list(
        "pk", "member_id", "purchased_at", "total_ore"
    ):
        anchor = anchors.get(member_id)
        if anchor is not None and anchor <= purchased_at < anchor + window:
            revenue[member_id] += max(total_ore - int(returned.get(pk) or 0), 0)
            counts[member_id] += 1
    return {m: Outcome(revenue_ore=revenue.get(m, 0), purchases=counts.get(m, 0)) for m in anchors}


@dataclass(frozen=True)
class Groups:
    """Anchor time per member: contacted (per variant) and control."""

    contacted: dict[int | None, dict[int, datetime.datetime]]
    control: dict[int, datetime.datetime]


def campaign_groups(*, campaign: Campaign, occurrence: str | None = None) -> Groups:
    """Contacted members by variant (first send time) and control members (selection time).

    A member contacted on two channels counts once, from the first send. A control member is
    never also contacted (the engine selects them instead of sending); if they somehow were,
    they count as contacted.
    """
    qs = _deliveries(campaign, occurrence)
    contacted: dict[int | None, dict[int, datetime.datetime]] = defaultdict(dict)
    seen: set[int] = set()
    for member_id, variant_id, sent_at in (
        qs.filter(status=CONTACTED, sent_at__isnull=False)
        .values("member_id", "variant_id")
        .annotate(first=Min("sent_at"))
        .order_by("member_id", "first")
        .values_list("member_id", "variant_id", "first")
    ):
        if member_id in seen:
            continue
        seen.add(member_id)
        contacted[variant_id][member_id] = sent_at
    control = {
        member_id: at
        for member_id, at in qs.filter(status=CONTROL)
        .values("member_id")
        .annotate(first=Min("created_at"))
        .values_list("member_id", "first")
        if member_id not in seen
    }
    return Groups(contacted=dict(contacted), control=control)


# --- uplift and verdict --------------------------------------------------------------------


class Verdict:
    SIGNIFICANT = "significant"
    SIGNIFICANT_NEGATIVE = "significant_negative"
    TOO_EARLY = "too_early"


@dataclass(frozen=True)
class Uplift:
    """Contacted vs control on one metric (revenue in SEK, or purchases), per member."""

    metric: str
    variant_id: int | None
    code: str
    contacted: Sample
    control: Sample
    interval: Interval | None
    verdict: str
    min_group_size: int
    window_complete: bool
    text: dict[str, str] = field(default_factory=dict)

    @property
    def relative(self) -> float | None:
        """Uplift relative to the control mean (0.12 = +12 %), None when control is zero."""
        if not self.control.mean:
            return None
        return (self.contacted.mean - self.control.mean) / self.control.mean

    @property
    def difference(self) -> float:
        return self.contacted.mean - self.control.mean


def _number(value: float, language: str, decimals: int = 2) -> str:
    text = f"{abs(value):,.{decimals}f}"
    if language == "sv":
        text = text.replace(",", "\u00a0").replace(".", ",")
    return ("−" if value < 0 else "") + text


def _amount(value: float, metric: str, language: str) -> str:
    if metric == "revenue":
        return f"{_number(value, language)} kr"
    return _number(value, language)


VERDICT_TEXT = {
    Verdict.SIGNIFICANT: {
        "revenue": {
            "sv": "Signifikant: kontaktade medlemmar handlade för {diff} mer per medlem än "
            "kontrollgruppen (95 % konfidensintervall {low} till {high}).",
            "en": "Significant: contacted members spent {diff} more per member than the "
            "control group (95 % confidence interval {low} to {high}).",
        },
        "purchases": {
            "sv": "Signifikant: kontaktade medlemmar gjorde {diff} fler köp per medlem än "
            "kontrollgruppen (95 % konfidensintervall {low} till {high}).",
            "en": "Significant: contacted members made {diff} more purchases per member than "
            "the control group (95 % confidence interval {low} to {high}).",
        },
    },
    Verdict.SIGNIFICANT_NEGATIVE: {
        "revenue": {
            "sv": "Signifikant sämre: kontaktade medlemmar handlade för {diff} mindre per "
            "medlem än kontrollgruppen (95 % konfidensintervall {low} till {high}).",
            "en": "Significantly worse: contacted members spent {diff} less per member than "
            "the control group (95 % confidence interval {low} to {high}).",
        },
        "purchases": {
            "sv": "Signifikant sämre: kontaktade medlemmar gjorde {diff} färre köp per medlem "
            "än kontrollgruppen (95 % konfidensintervall {low} till {high}).",
            "en": "Significantly worse: contacted members made {diff} fewer purchases per "
            "member than the control group (95 % confidence interval {low} to {high}).",
        },
    },
    Verdict.TOO_EARLY: {
        "interval": {
            "sv": "För tidigt att säga: skillnaden är {signed} per medlem, men 95 % "
            "konfidensintervallet ({low} till {high}) innehåller fortfarande noll.",
            "en": "Too early to say: the difference is {signed} per member, but the 95 % "
            "confidence interval ({low} to {high}) still includes zero.",
        },
        "none": {
            "sv": "För tidigt att säga: ingen skillnad alls hittills mellan kontaktade och "
            "kontrollgruppen.",
            "en": "Too early to say: no difference at all so far between contacted members "
            "and the control group.",
        },
        "small": {
            "sv": "För tidigt att säga: bara {n_contacted} kontaktade och {n_control} "
            "medlemmar i kontrollgruppen hittills (minst {minimum} i varje grupp behövs).",
            "en": "Too early to say: only {n_contacted} contacted and {n_control} control "
            "members so far (at least {minimum} in each group are needed).",
        },
    },
}
WINDOW_OPEN = {
    "sv": " Målperioden pågår fortfarande.",
    "en": " The goal window is still open.",
}


def verdict_decide(
    *, contacted: Sample, control: Sample, interval: Interval | None, min_group_size: int
) -> str:
    """Significant when both groups are big enough and the 95 % interval excludes zero."""
    if interval is None or contacted.n < min_group_size or control.n < min_group_size:
        return Verdict.TOO_EARLY
    if not interval.excludes_zero:
        return Verdict.TOO_EARLY
    return Verdict.SIGNIFICANT if interval.low > 0 else Verdict.SIGNIFICANT_NEGATIVE


def verdict_text(
    *,
    metric: str,
    verdict: str,
    contacted: Sample,
    control: Sample,
    interval: Interval | None,
    min_group_size: int,
    window_complete: bool = True,
) -> dict[str, str]:
    """The verdict as one sentence in Swedish and in English."""
    out = {}
    for lang in ("sv", "en"):
        if verdict in (Verdict.SIGNIFICANT, Verdict.SIGNIFICANT_NEGATIVE):
            assert interval is not None
            text = VERDICT_TEXT[verdict][metric][lang].format(
                diff=_amount(abs(interval.difference), metric, lang),
                low=_amount(interval.low, metric, lang),
                high=_amount(interval.high, metric, lang),
            )
        elif interval is None or contacted.n < min_group_size or control.n < min_group_size:
            text = VERDICT_TEXT[Verdict.TOO_EARLY]["small"][lang].format(
                n_contacted=contacted.n, n_control=control.n, minimum=min_group_size
            )
        elif interval.standard_error == 0 and interval.difference == 0:
            text = VERDICT_TEXT[Verdict.TOO_EARLY]["none"][lang]
        else:
            sign = "+" if interval.difference > 0 else ""
            text = VERDICT_TEXT[Verdict.TOO_EARLY]["interval"][lang].format(
                signed=sign + _amount(interval.difference, metric, lang),
                low=_amount(interval.low, metric, lang),
                high=_amount(interval.high, metric, lang),
            )
        if not window_complete:
            text += WINDOW_OPEN[lang]
        out[lang] = text
    return out


def uplift_compute(
    *,
    metric: str,
    contacted: Sequence[float],
    control: Sequence[float],
    variant_id: int | None = None,
    code: str = "",
    min_group_size: int | None = None,
    window_complete: bool = True,
) -> Uplift:
    """Uplift of per-member values (SEK or purchases), its interval, verdict and texts."""
    if metric not in METRICS:
        raise ValueError(f"Unknown metric: {metric}")
    minimum = _min_group_size() if min_group_size is None else min_group_size
    treatment, base = Sample.of(contacted), Sample.of(control)
    interval = welch_interval(treatment, base)
    verdict = verdict_decide(
        contacted=treatment, control=base, interval=interval, min_group_size=minimum
    )
    return Uplift(
        metric=metric,
        variant_id=variant_id,
        code=code,
        contacted=treatment,
        control=base,
        interval=interval,
        verdict=verdict,
        min_group_size=minimum,
        window_complete=window_complete,
        text=verdict_text(
            metric=metric,
            verdict=verdict,
            contacted=treatment,
            control=base,
            interval=interval,
            min_group_size=minimum,
            window_complete=window_complete,
        ),
    )


def _values(outcomes: dict[int, Outcome], members: Iterable[int], metric: str) -> list[float]:
    if metric == "revenue":
        return [outcomes[m].revenue_ore / 100 for m in members]
    return [float(outcomes[m].purchases) for m in members]


@dataclass(frozen=True)
class CampaignResults:
    campaign: Campaign
    funnel: list[Funnel]
    overall: dict[str, Uplift]  # metric -> all variants together vs control
    by_variant: list[dict[str, Uplift]]  # one per variant, metric -> uplift
    window_days: int
    window_complete: bool
    computed_at: datetime.datetime
    winner: Winner | None = None


def campaign_results(
    *, campaign: Campaign, occurrence: str | None = None, at: datetime.datetime | None = None
) -> CampaignResults:
    """Everything the results page shows, in a handful of queries."""
    now = at or timezone.now()
    days = campaign.goal_days
    groups = campaign_groups(campaign=campaign, occurrence=occurrence)
    anchors: dict[int, datetime.datetime] = dict(groups.control)
    for members in groups.contacted.values():
        anchors.update(members)
    outcomes = campaign_outcomes(campaign=campaign, occurrence=occurrence, anchors=anchors)
    latest = max(anchors.values(), default=None)
    complete = latest is not None and latest + datetime.timedelta(days=days) <= now
    control_ids = list(groups.control)
    all_contacted = [m for members in groups.contacted.values() for m in members]
    overall = {
        metric: uplift_compute(
            metric=metric,
            contacted=_values(outcomes, all_contacted, metric),
            control=_values(outcomes, control_ids, metric),
            window_complete=complete,
        )
        for metric in METRICS
    }
    codes = dict(Variant.objects.filter(campaign=campaign).values_list("pk", "code"))
    by_variant = []
    for variant_id in sorted(codes):
        variant_members = list(groups.contacted.get(variant_id, {}))
        by_variant.append(
            {
                metric: uplift_compute(
                    metric=metric,
                    contacted=_values(outcomes, variant_members, metric),
                    control=_values(outcomes, control_ids, metric),
                    variant_id=variant_id,
                    code=codes[variant_id],
                    window_complete=complete,
                )
                for metric in METRICS
            }
        )
    return CampaignResults(
        campaign=campaign,
        funnel=campaign_funnel(campaign=campaign, occurrence=occurrence),
        overall=overall,
        by_variant=by_variant,
        window_days=days,
        window_complete=complete,
        computed_at=now,
        winner=winner_pick(campaign=campaign, codes=codes, outcomes=outcomes, groups=groups),
    )


# --- the winner ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Winner:
    """The best variant on the campaign's goal, and whether it beats the runner-up clearly."""

    variant_id: int
    code: str
    metric: str
    clear: bool
    versus: Interval | None  # best minus runner-up, per member
    runner_up_id: int | None


def _goal_values(
    campaign: Campaign,
    variant_id: int,
    outcomes: dict[int, Outcome],
    groups: Groups,
    redeemed: set[int],
) -> list[float]:
    members = list(groups.contacted.get(variant_id, {}))
    if campaign.goal == Campaign.Goal.REDEMPTIONS:
        return [1.0 if m in redeemed else 0.0 for m in members]
    return _values(outcomes, members, "revenue")


def winner_pick(
    *,
    campaign: Campaign,
    codes: dict[int, str],
    outcomes: dict[int, Outcome],
    groups: Groups,
) -> Winner | None:
    """The variant with the best mean on the goal (revenue per member, or the share of
    contacted members who redeemed); ``clear`` when Welch's interval for best minus
    runner-up excludes zero with at least the minimum group size in each. None with fewer
    than two variants that reached anyone."""
    redeemed = set(
        _deliveries(campaign, None)
        .filter(status=CONTACTED, redeemed_at__isnull=False)
        .values_list("member_id", flat=True)
    )
    samples = {
        variant_id: _goal_values(campaign, variant_id, outcomes, groups, redeemed)
        for variant_id in codes
        if groups.contacted.get(variant_id)
    }
    if len(samples) < 2:
        return None
    ranked = sorted(samples, key=lambda v: (-Sample.of(samples[v]).mean, codes[v], v))
    best, runner_up = ranked[0], ranked[1]
    a, b = Sample.of(samples[best]), Sample.of(samples[runner_up])
    versus = welch_interval(a, b)
    minimum = _min_group_size()
    clear = versus is not None and versus.low > 0 and a.n >= minimum and b.n >= minimum
    metric = "redemptions" if campaign.goal == Campaign.Goal.REDEMPTIONS else "revenue"
    return Winner(
        variant_id=best,
        code=codes[best],
        metric=metric,
        clear=clear,
        versus=versus,
        runner_up_id=runner_up,
    )


@dataclass(frozen=True)
class Promotion:
    variant: Variant
    chunks: int  # fan-out chunks queued by the engine (0: nobody left to reach)
    winner: Winner | None


def campaign_promote_winner(
    *, campaign: Campaign, actor: Any = None, variant: Variant | None = None
) -> Promotion:
    """Send the winning variant to the rest of the segment (members the test did not reach;
    the holdout keeps applying).

    Without ``variant`` the winner on the campaign's goal is used and must be clear
    (:func:`winner_pick`); a marketer may name a variant explicitly to promote it anyway.
    The sending is the engine's ``campaigns.services.campaign_promote_start(campaign=...,
    variant=...)``: it fans out only to members without a delivery yet, so promoting twice
    never contacts anyone twice.
    """
    if variant is not None and variant.campaign_id != campaign.pk:
        raise NotFoundError(_("That variant does not belong to this campaign."))
    if campaign.status != Campaign.Status.DONE:
        raise PromoteNotAllowedError()
    winner = campaign_results(campaign=campaign).winner
    if variant is None:
        if winner is None or not winner.clear:
            raise NoClearWinnerError()
        variant = Variant.objects.get(pk=winner.variant_id)
    # The engine sits beside results in this app; imported here to keep results importable
    # on its own (pages and tests that only read).

    chunks = campaign_promote_start(campaign=campaign, variant=variant)
    return Promotion(variant=variant, chunks=chunks, winner=winner)
