"""Tiers: qualification on points earned over a rolling year, upgrade in the purchase's own
transaction, nightly re-evaluation with a grace period before a downgrade, and benefits."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.test import override_settings

from members.activity import Kind
from members.models import ActivityEvent
from rewards.errors import BenefitAlreadyChosenError, BenefitNotAvailableError, TooManyBenefitsError
from rewards.ledger.points import points_redeem
from rewards.loyalty import tier_ladder, tiers
from rewards.models import BenefitChoice, MemberTier, TierChange
from rewards.purchases.returns import purchase_return
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants

pytestmark = pytest.mark.django_db
# UTC, so that adding days never crosses a daylight-saving change in wall-clock arithmetic.
T0 = datetime.datetime(2026, 3, 2, 11, 0, tzinfo=datetime.UTC)


def _buy(store, member, sek: int):
    return rf.purchase(store=store, member=member, lines=[rf.line("SKU-T", 1, sek * 100)])


def _tier_code(member) -> str | None:
    member_tier = MemberTier.objects.filter(member=member).select_related("tier").first()
    return member_tier.tier.code if member_tier else None


def test_tier_upgrade_for_purchase_the_purchase_that_crosses_the_threshold(store, member):
    # given the ladder and a member who has earned 900 points this year
    ladder = rf.ladder()
    rf.base_rule()
    first = _buy(store, member, 900)
    assert _tier_code(member) == "bas"

    # when a purchase of 200 SEK takes them past 1,000 earned points
    second = _buy(store, member, 200)

    # then they are Silver at once, with the reason and the purchase on record
    assert _tier_code(member) == "silver"
    change = TierChange.objects.filter(member=member).first()
    assert change is not None
    assert change.to_tier == ladder["silver"]
    assert change.from_tier == ladder["bas"]
    assert change.reason == TierChange.Reason.PURCHASE
    assert change.purchase_id == second.purchase.pk != first.purchase.pk
    assert change.qualifying_value == 1100
    assert ActivityEvent.objects.filter(
        member=member, kind=Kind.TIER_CHANGED, data__to_code="silver"
    ).exists()


def test_tier_upgrade_for_purchase_reads_the_ladder_once_per_cache_time(
    store, member, monkeypatch, django_assert_num_queries
):
    # given a clock for the per-process ladder snapshot, and purchases before any ladder
    clock = [1000.0]
    monkeypatch.setattr(tier_ladder.time, "monotonic", lambda: clock[0])
    rf.base_rule()
    _buy(store, member, 2000)

    # when staff add a ladder, purchases within the cache time still see none
    rf.ladder()
    with django_assert_num_queries(0):
        assert tiers.tier_upgrade_for_purchase(member_id=member.pk, purchase_id=0) is None
    _buy(store, member, 100)
    assert _tier_code(member) is None

    # then once the cache time has passed, the next purchase upgrades at once
    clock[0] += settings.REWARDS_RULES_CACHE_SECONDS + 0.1
    _buy(store, member, 100)
    assert _tier_code(member) == "silver"


def test_tier_upgrade_for_purchase_skips_tiers_and_never_downgrades(store, member):
    # given a Gold member (set by staff) who earns little
    ladder = rf.ladder()
    rf.base_rule()
    MemberTier.objects.create(member=member, tier=ladder["guld"])

    # when they buy for 100 SEK
    _buy(store, member, 100)

    # then the purchase path leaves them Gold (downgrades are the nightly job's, after grace)
    assert _tier_code(member) == "guld"
    assert MemberTier.objects.get(member=member).below_since is None


def test_tier_upgrade_for_purchase_takes_no_lock_unless_the_purchase_may_upgrade(
    store, member, django_assert_num_queries
):
    # given the ladder, a Platinum member and a Silver one with 1,100 points this year
    ladder = rf.ladder()
    rf.base_rule()
    platinum = MemberTier.objects.create(member=member, tier=ladder["platina"])
    from tests import factories

    other = factories.member_with_user()
    _buy(store, other, 1100)
    silver = MemberTier.objects.get(member=other)
    assert silver.tier == ladder["silver"]

    # when each buys: the top tier costs nothing, the Silver member one sum and no lock
    with django_assert_num_queries(0):
        tiers.tier_upgrade_for_purchase(member_id=member.pk, purchase_id=0, held=platinum)
    with django_assert_num_queries(1) as captured:
        tiers.tier_upgrade_for_purchase(member_id=other.pk, purchase_id=0, held=silver)
    assert "FOR UPDATE" not in captured.captured_queries[0]["sql"]

    # and once their points reach Gold, the purchase takes the locked evaluation and upgrades
    rf.earned(other, 2000)
    change = tiers.tier_upgrade_for_purchase(member_id=other.pk, purchase_id=0, held=silver)
    assert change is not None
    assert change.to_tier == ladder["guld"]


def test_tier_upgrade_for_purchase_in_grace_requalifying_clears_the_clock(store, member):
    # given a Silver member in their grace period (below the threshold since yesterday)
    ladder = rf.ladder()
    rf.base_rule()
    MemberTier.objects.create(
        member=member, tier=ladder["silver"], below_since=T0 - datetime.timedelta(days=1)
    )

    # when a purchase takes them back over 1,000 points
    _buy(store, member, 1000)

    # then they keep Silver and the grace clock is cleared
    member_tier = MemberTier.objects.get(member=member)
    assert member_tier.tier == ladder["silver"]
    assert member_tier.below_since is None


def test_tiers_reevaluate_no_downgrade_inside_grace_then_downgrade_after(store, member):
    # given a member who reached Silver with a purchase on T0
    rf.ladder()
    rf.base_rule()
    with time_machine.travel(T0, tick=False):
        _buy(store, member, 1200)
    assert _tier_code(member) == "silver"

    # when a year passes without purchases, the nightly job starts the grace period
    below = T0 + datetime.timedelta(days=366)
    with time_machine.travel(below, tick=False):
        assert tiers.tiers_reevaluate() == 0
    assert _tier_code(member) == "silver"
    assert MemberTier.objects.get(member=member).below_since == below

    # then inside the grace period (60 days) they stay Silver
    with time_machine.travel(below + datetime.timedelta(days=59), tick=False):
        assert tiers.tiers_reevaluate() == 0
    assert _tier_code(member) == "silver"

    # and after it they drop to Bas, with the reason recorded
    with time_machine.travel(below + datetime.timedelta(days=60, minutes=1), tick=False):
        assert tiers.tiers_reevaluate() == 1
        assert tiers.tiers_reevaluate() == 0  # a second run changes nothing more
    assert _tier_code(member) == "bas"
    change = TierChange.objects.filter(member=member).first()
    assert change is not None
    assert change.reason == TierChange.Reason.GRACE_ENDED
    assert change.qualifying_value == 0


def test_tiers_reevaluate_qualifying_again_inside_grace_clears_it(store, member):
    # given a Silver member in their grace period
    rf.ladder()
    rf.base_rule()
    with time_machine.travel(T0, tick=False):
        _buy(store, member, 1200)
    below = T0 + datetime.timedelta(days=366)
    with time_machine.travel(below, tick=False):
        tiers.tiers_reevaluate()

    # when they earn enough again within the grace period
    with time_machine.travel(below + datetime.timedelta(days=10), tick=False):
        _buy(store, member, 1000)
        tiers.tiers_reevaluate()

    # then the grace clock is cleared and a later run does not downgrade them
    assert MemberTier.objects.get(member=member).below_since is None
    with time_machine.travel(below + datetime.timedelta(days=80), tick=False):
        tiers.tiers_reevaluate()
    assert _tier_code(member) == "silver"


def test_tier_by_earned_points_unaffected_by_spending(store, member):
    # given a Gold member (3,500 points earned this year)
    rf.ladder()
    rf.base_rule()
    rf.earned(member, 3500)
    tiers.tiers_reevaluate()
    assert _tier_code(member) == "guld"

    # when they spend nearly all their points
    points_redeem(member=member, points=3400, idempotency_key="spend-all")
    tiers.tiers_reevaluate()

    # then they stay Gold, with no grace clock running: spending is not losing status
    assert _tier_code(member) == "guld"
    assert MemberTier.objects.get(member=member).below_since is None
    assert tiers.tier_progress(member=member).value == 3500
    assert_invariants([member.pk])


def test_tier_qualifying_value_subtracts_returns(store, member):
    # given a member who bought for 1,200 SEK (Silver)
    rf.ladder()
    rf.base_rule()
    result = _buy(store, member, 1200)
    assert _tier_code(member) == "silver"

    # when they return the purchase
    purchase_return(store=store, receipt_id=result.purchase.receipt_id, return_id="RET")

    # then the returned points no longer count towards the tier
    assert tier_ladder.qualifying_value(member_id=member.pk) == 0


@override_settings(REWARDS_TIER_BASIS="spend")
def test_tier_by_spend_basis_uses_purchase_totals(store, member):
    # given a ladder on spend: Silver from 5,000 SEK in 12 months
    ladder = rf.ladder()
    ladder["silver"].threshold_spend_ore = 500_000
    ladder["silver"].save()
    for code in ("guld", "platina"):
        ladder[code].threshold_spend_ore = 10**9
        ladder[code].save()

    # when purchases without any earning rule add up to 5,000 SEK
    _buy(store, member, 3000)
    assert _tier_code(member) == "bas"
    _buy(store, member, 2000)

    # then the member is Silver
    assert _tier_code(member) == "silver"


def test_tier_progress_shows_points_left_to_the_next_tier(store, member):
    # given a Silver member with 2,620 points earned
    rf.ladder()
    rf.earned(member, 2620)
    tiers.tiers_reevaluate()

    # when the page asks for progress
    progress = tiers.tier_progress(member=member)

    # then 380 points are left to Gold
    assert progress.current is not None
    assert progress.current.code == "silver"
    assert progress.next_tier is not None
    assert progress.next_tier.code == "guld"
    assert progress.remaining == 380
    assert progress.percent == 81


def test_benefit_choose_once_per_period_then_again_next_period(member):
    # given a Gold member (one pick) and two Gold benefits
    from rewards.models import Benefit

    ladder = rf.ladder()
    MemberTier.objects.create(member=member, tier=ladder["guld"])
    delivery = Benefit.objects.create(
        code="frakt",
        kind="free_delivery",
        name_sv="Fri frakt",
        name_en="Free delivery",
        min_tier=ladder["guld"],
    )
    double = Benefit.objects.create(
        code="dubbel",
        kind="other",
        name_sv="Dubbla",
        name_en="Double",
        min_tier=ladder["silver"],
    )
    platinum_only = Benefit.objects.create(
        code="lounge",
        kind="other",
        name_sv="Lounge",
        name_en="Lounge",
        min_tier=ladder["platina"],
    )

    with time_machine.travel(T0, tick=False):
        # when they pick two, or a Platinum benefit, they are refused
        with pytest.raises(TooManyBenefitsError):
            tiers.benefit_choose(member=member, benefit_ids=[delivery.pk, double.pk])
        with pytest.raises(BenefitNotAvailableError):
            tiers.benefit_choose(member=member, benefit_ids=[platinum_only.pk])
        # and one works, once per month
        tiers.benefit_choose(member=member, benefit_ids=[delivery.pk])
        with pytest.raises(BenefitAlreadyChosenError):
            tiers.benefit_choose(member=member, benefit_ids=[double.pk])
        assert [b.code for b in tiers.benefits_chosen(member=member)] == ["frakt"]

    # then next month they can change
    with time_machine.travel(T0 + datetime.timedelta(days=31), tick=False):
        tiers.benefit_choose(member=member, benefit_ids=[double.pk])
        assert [b.code for b in tiers.benefits_chosen(member=member)] == ["dubbel"]
    assert BenefitChoice.objects.filter(member=member).count() == 2


def test_benefit_bonus_rules_category_multiplier_for_the_chosen_month(member):
    # given a Gold member who chose "double points on shoes" this month
    from rewards.models import Benefit, Category

    ladder = rf.ladder()
    MemberTier.objects.create(member=member, tier=ladder["guld"])
    shoes = Category.objects.create(code="skor", name="Skor")
    benefit = Benefit.objects.create(
        code="skor2x",
        kind="category_multiplier",
        name_sv="2x skor",
        name_en="2x shoes",
        min_tier=ladder["guld"],
        category=shoes,
    )
    with time_machine.travel(T0, tick=False):
        tiers.benefit_choose(member=member, benefit_ids=[benefit.pk])

    # when earning asks for the member's bonus rules this month and next
    this_month = tiers.benefit_bonus_rules(member.pk, T0.date())
    next_month = tiers.benefit_bonus_rules(member.pk, (T0 + datetime.timedelta(days=31)).date())

    # then the multiplier applies to shoes this month only
    assert [(r.category_id, r.multiplier, r.id < 0) for r in this_month] == [
        (shoes.pk, benefit.multiplier, True)
    ]
    assert next_month == []


def test_tier_evaluate_without_ladder_does_nothing(member):
    # given no tiers configured, when a member is evaluated, then nothing happens
    rf.earned(member, 5000)
    assert tiers.tier_evaluate(member_id=member.pk) is None
    assert not MemberTier.objects.filter(member=member).exists()


def test_bonus_rules_for_reads_every_provider_in_one_query(
    member, monkeypatch, django_assert_num_queries
):
    # given a Gold member who chose "double points on shoes" this month, and a second
    # SQL provider (a stand-in for campaigns' offers) plus a plain Python provider
    from rewards.models import Benefit, Category
    from rewards.rules import earning

    ladder = rf.ladder()
    MemberTier.objects.create(member=member, tier=ladder["guld"])
    shoes = Category.objects.create(code="skor", name="Skor")
    benefit = Benefit.objects.create(
        code="skor2x",
        kind="category_multiplier",
        name_sv="2x skor",
        name_en="2x shoes",
        min_tier=ladder["guld"],
        category=shoes,
    )
    with time_machine.travel(T0, tick=False):
        tiers.benefit_choose(member=member, benefit_ids=[benefit.pk])

    @earning.bonus_sql(
        "SELECT -7::bigint, 'Sv', 'En', 3::numeric, NULL::bigint, 42::bigint "
        "WHERE (SELECT id FROM bonus_member) = %s"
    )
    def other(day: datetime.date) -> list[object]:
        return [member.pk]

    plain = earning.RuleSnapshot(
        id=-3, kind="multiplier", name_sv="p", name_en="p", rate=Decimal("1"),
        multiplier=Decimal("2"), rounding="down", min_purchase_ore=0, category_id=None,
        product_id=None, store_id=None, tier_id=None, valid_from=None, valid_until=None,
    )  # fmt: skip
    monkeypatch.setattr(
        earning,
        "_bonus_providers",
        {
            "a.other": other,
            "b.benefits": tiers.benefit_bonus_rules,
            "c.plain": lambda m, d: [plain],
        },
    )

    # when earning asks for the member's bonus rules
    with django_assert_num_queries(1):
        rules = earning.bonus_rules_for(member_id=member.pk, day=T0.date())

    # then the plain provider's rules, then both SQL providers' rows from the one statement
    assert [(r.id, r.multiplier, r.category_id, r.product_id) for r in rules] == [
        (-3, Decimal("2"), None, None),
        (tiers.BENEFIT_RULE_ID_BASE - benefit.pk, benefit.multiplier, shoes.pk, None),
        (-7, Decimal("3"), None, 42),
    ]

    # and the till's member lookup reads the same rules in its own single query
    from rewards.selectors import member_by_number_with_tier

    with django_assert_num_queries(1):
        found, bonus = member_by_number_with_tier(member.membership_number, bonus_day=T0.date())
    assert found is not None
    assert bonus is not None
    assert bonus.rules(member.pk) == rules
    # which earning uses for that day only
    other_day = T0.date() + datetime.timedelta(days=40)
    with django_assert_num_queries(1):
        earning.earning_calculate(
            lines=[], store_id=1, tier_id=None, day=other_day, total_ore=0, rules=[],
            member_id=member.pk, bonus=bonus,
        )  # fmt: skip
    with django_assert_num_queries(0):
        earning.earning_calculate(
            lines=[], store_id=1, tier_id=None, day=T0.date(), total_ore=0, rules=[],
            member_id=member.pk, bonus=bonus,
        )  # fmt: skip


def test_prefetched_bonus_multipliers_are_exact_decimals(member, monkeypatch):
    # given a provider whose multiplier has no exact binary fraction (1.15)
    from rewards.rules import earning
    from rewards.selectors import member_by_number_with_tier

    @earning.bonus_sql(
        "SELECT -9::bigint, 'Sv', 'En', 1.15::numeric, NULL::bigint, NULL::bigint "
        "WHERE (SELECT id FROM bonus_member) IS NOT NULL AND %s::date IS NOT NULL"
    )
    def fifteen(day: datetime.date) -> list[object]:
        return [day]

    monkeypatch.setattr(earning, "_bonus_providers", {"a.fifteen": fifteen})

    # when the till's member lookup reads it, and when earning asks the provider itself
    _found, bonus = member_by_number_with_tier(member.membership_number, bonus_day=T0.date())
    assert bonus is not None
    prefetched = bonus.rules(member.pk)
    asked = earning.bonus_rules_for(member_id=member.pk, day=T0.date())

    # then both give exactly 1.15, so 100 SEK earns 15 extra points, not 14
    assert [r.multiplier for r in prefetched] == [Decimal("1.15")]
    assert prefetched == asked
    line = earning.LineForEarning(
        product_id=None, category_id=None, quantity=1, unit_price_ore=10000
    )
    base = earning.RuleSnapshot(
        id=1, kind="base", name_sv="b", name_en="b", rate=Decimal("1"), multiplier=Decimal("1"),
        rounding="down", min_purchase_ore=0, category_id=None, product_id=None, store_id=None,
        tier_id=None, valid_from=None, valid_until=None,
    )  # fmt: skip
    calc = earning.earning_calculate(
        lines=[line], store_id=1, tier_id=None, day=T0.date(), total_ore=10000, rules=[base],
        member_id=member.pk, bonus=bonus,
    )  # fmt: skip
    assert calc.total == 115
