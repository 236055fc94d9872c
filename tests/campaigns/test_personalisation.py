"""Personalisation v1: co-purchase affinities, next best offers and "why you got this offer"."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.test.utils import override_settings
from django.utils import timezone

from campaigns.models import (
    CategoryAffinity,
    InterestCategory,
    MemberRecommendation,
    PersonalisationRun,
    ProductAffinity,
)
from campaigns.personalisation.affinities import affinities_compute
from campaigns.personalisation.recommendations import (
    personalisation_run,
    recommendations_compute,
    recommendations_erase,
)
from campaigns.personalisation.selectors import (
    next_best_offer,
    offer_reason,
    recommended_products,
    recommended_products_bulk,
)
from consent.models import Interest
from consent.services.preferences import interests_set
from rewards.models import Category, MemberTier, Product, Tier
from rewards.purchases.returns import purchase_return
from tests import factories
from tests.factories import consent as cf
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 6, 1, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


def jeans(quantity: int = 1):
    return rf.line(
        sku="JEANS", name="Jeans 501", category="byxor", quantity=quantity, price_ore=79900
    )


def shirt():
    return rf.line(sku="SHIRT", name="Flanellskjorta", category="skjortor", price_ore=39900)


def socks():
    return rf.line(sku="SOCKS", name="Strumpor", category="strumpor", price_ore=9900)


def cap():
    return rf.line(sku="CAP", name="Keps", category="kepsar", price_ore=19900)


def shoes():
    return rf.line(sku="SHOE", name="Löparsko X", category="lopning", price_ore=129900)


def buyer(profiling: bool = True, **fields):
    member = factories.member_with_user(**fields)
    if profiling:
        cf.granted(member, "profiling")
    return member


def bought(store, member, *lines, days_ago: int = 10):
    return rf.purchase(
        store=store,
        member=member,
        lines=list(lines),
        purchased_at=timezone.now() - datetime.timedelta(days=days_ago),
    )


@pytest.fixture
def small_club(store):
    """Five receipts, hand-countable: N = 5 baskets.

    B1 {jeans, shirt} (m1), B2 {jeans, shirt} (m2), B3 {jeans} (m3), B4 {socks} (m4),
    B5 {socks, cap} (m5). Only m1 and m2 allow profiling.
    """
    rf.base_rule()
    m1, m2 = buyer(first_name="Ett"), buyer(first_name="Två")
    m3, m4, m5 = (buyer(profiling=False) for _ in range(3))
    bought(store, m1, jeans(), shirt())
    bought(store, m2, jeans(), shirt())
    bought(store, m3, jeans())
    bought(store, m4, socks())
    bought(store, m5, socks(), cap())
    return {"m1": m1, "m2": m2, "m3": m3, "m4": m4, "m5": m5}


def _product(sku):
    return Product.objects.get(sku=sku)


def test_affinities_compute_measures_co_purchase_in_baskets_by_hand(small_club):
    # When the affinities are computed (a pair needs at least 2 baskets by default)
    counts = affinities_compute()

    # Then jeans -> shirt: support 2/5, confidence 2/3, lift 2*5/(3*2)
    assert counts.baskets == 5
    rows = ProductAffinity.objects.filter(basis="basket")
    assert {(r.product_a.sku, r.product_b.sku) for r in rows} == {
        ("JEANS", "SHIRT"),
        ("SHIRT", "JEANS"),
    }
    forward = rows.get(product_a__sku="JEANS")
    assert forward.pair_count == 2
    assert forward.support == pytest.approx(0.4)
    assert forward.confidence == pytest.approx(2 / 3)
    assert forward.lift == pytest.approx(10 / 6)
    backward = rows.get(product_a__sku="SHIRT")
    assert backward.confidence == pytest.approx(1.0)
    assert backward.lift == pytest.approx(10 / 6)
    # socks + cap were bought together once only: below the minimum support count
    assert not rows.filter(product_a__sku="CAP").exists()
    # And the categories follow the products
    cat = CategoryAffinity.objects.get(basis="basket", category_a__code="byxor")
    assert cat.category_b.code == "skjortor"
    assert cat.lift == pytest.approx(10 / 6)


def test_affinities_compute_member_histories_only_of_members_who_allow_profiling(small_club):
    # When computed over member histories
    counts = affinities_compute()

    # Then only m1 and m2 (who consented) are histories: both bought jeans and shirt
    assert counts.histories == 2
    row = ProductAffinity.objects.get(basis="member", product_a__sku="JEANS")
    assert row.pair_count == 2
    assert row.support == pytest.approx(1.0)
    assert row.lift == pytest.approx(1.0)


@override_settings(PERSONALISATION_MIN_PAIR_COUNT=1)
def test_affinities_compute_min_support_count_is_a_setting(small_club):
    affinities_compute()
    row = ProductAffinity.objects.get(basis="basket", product_a__sku="CAP")
    # cap -> socks: 1 of 5 baskets; P(socks | cap) = 1; lift = 1*5/(1*2)
    assert row.product_b.sku == "SOCKS"
    assert row.confidence == pytest.approx(1.0)
    assert row.lift == pytest.approx(2.5)


def test_affinities_compute_ignores_fully_returned_lines_and_old_purchases(store, small_club):
    # Given a third jeans+shirt basket whose shirt went back, and one from two years ago
    member = buyer()
    result = bought(store, member, jeans(), shirt())
    purchase_return(
        store=store, receipt_id=result.purchase.receipt_id, return_id="RET-1", lines=[(2, 1)]
    )
    bought(store, member, jeans(), shirt(), days_ago=800)

    # When computed
    affinities_compute()

    # Then neither counts as buying both: still 2 of now 6 baskets
    forward = ProductAffinity.objects.get(basis="basket", product_a__sku="JEANS")
    assert forward.pair_count == 2
    assert forward.support == pytest.approx(2 / 6)


def test_affinities_compute_twice_replaces_rather_than_adds(small_club):
    affinities_compute()
    first = sorted(ProductAffinity.objects.values_list("basis", "product_a", "product_b", "lift"))
    affinities_compute()
    assert (
        sorted(ProductAffinity.objects.values_list("basis", "product_a", "product_b", "lift"))
        == first
    )


def test_recommendations_compute_because_you_bought(store, small_club):
    # Given a consenting member who bought jeans but never the shirt
    anna = buyer(first_name="Anna", preferred_language="sv")
    bought(store, anna, jeans())
    affinities_compute()

    # When recommendations are computed
    recommendations_compute()

    # Then the shirt is the next best offer, because of the jeans, in plain Swedish
    best = next_best_offer(member=anna)
    assert best is not None
    assert best.sku == "SHIRT"
    assert best.reason == MemberRecommendation.Reason.BOUGHT_TOGETHER
    assert best.reason_text == "Eftersom du köpte Jeans 501: de köps ofta tillsammans."
    english = next_best_offer(member=anna, language="en")
    assert english is not None
    assert english.reason_text == "Because you bought Jeans 501: they are often bought together."
    # and she is never recommended what she already has
    assert "JEANS" not in {r.sku for r in recommended_products(member=anna, limit=5)}


def test_recommendations_compute_only_for_members_who_allow_profiling(store, small_club):
    # Given a member without profiling consent who bought jeans
    other = buyer(profiling=False)
    bought(store, other, jeans())
    affinities_compute()

    # When computed
    recommendations_compute()

    # Then nothing is stored or shown for them
    assert not MemberRecommendation.objects.filter(member=other).exists()
    assert recommended_products(member=other) == []
    assert MemberRecommendation.objects.filter(member=small_club["m1"]).exists()


def test_recommended_products_hidden_at_once_when_profiling_is_withdrawn(store, small_club):
    # Given a member with recommendations
    anna = buyer()
    bought(store, anna, jeans())
    affinities_compute()
    recommendations_compute()
    assert recommended_products(member=anna)

    # When she withdraws consent to profiling
    cf.withdrawn(anna, "profiling")

    # Then nothing is shown from that moment, and the next run deletes her rows
    assert recommended_products(member=anna) == []
    assert next_best_offer(member=anna) is None
    assert MemberRecommendation.objects.filter(member=anna).exists()
    counts = recommendations_compute()
    assert counts.removed > 0
    assert not MemberRecommendation.objects.filter(member=anna).exists()


def test_recommendations_compute_from_an_interest_without_purchases(store, small_club):
    # Given a category "running shoes" and the interest "running" mapped to it
    bought(store, small_club["m1"], shoes())
    running = Interest.objects.get(code="running")
    InterestCategory.objects.create(interest=running, category=Category.objects.get(code="lopning"))
    newbie = buyer(preferred_language="en")
    interests_set(member=newbie, interest_ids=[running.pk], actor=newbie.user)
    affinities_compute()

    # When computed
    recommendations_compute()

    # Then the running shoe comes first, because of the interest
    best = next_best_offer(member=newbie)
    assert best is not None
    assert best.sku == "SHOE"
    assert best.reason == MemberRecommendation.Reason.INTEREST
    assert best.reason_text == "Because you said you like running."


def test_recommendations_compute_from_tier_and_popularity(store, small_club):
    # Given a gold tier whose members bought socks, and a gold member with no history
    gold = Tier.objects.create(code="gold", name_sv="Guld", name_en="Gold", rank=2)
    MemberTier.objects.create(member=small_club["m4"], tier=gold)
    newcomer = buyer(preferred_language="sv")
    MemberTier.objects.create(member=newcomer, tier=gold)
    affinities_compute()

    # When computed
    recommendations_compute()

    # Then socks come first for the tier, the rest by popularity
    recs = recommended_products(member=newcomer, limit=5)
    assert recs[0].sku == "SOCKS"
    assert recs[0].reason_text == "Populärt bland medlemmar i nivån Guld."
    assert {r.reason for r in recs[1:]} <= {"popular", "tier"}
    assert [r.rank for r in recs] == sorted(r.rank for r in recs)


def test_recommended_products_bulk_reads_a_chunk_in_one_query(
    store, small_club, django_assert_num_queries
):
    # Given three consenting members with recommendations
    members = [buyer(), buyer(), buyer()]
    for m in members:
        bought(store, m, jeans())
    affinities_compute()
    recommendations_compute()

    # When a fan-out chunk asks for all of them with known languages
    ids = [m.pk for m in members]
    with django_assert_num_queries(1):
        out = recommended_products_bulk(member_ids=ids, limit=2, languages=dict.fromkeys(ids, "en"))

    # Then each gets their own list
    assert set(out) == set(ids)
    assert all(recs[0].sku == "SHIRT" for recs in out.values())


def test_offer_reason_names_the_category_the_member_bought(store, small_club):
    # Given a member who bought running shoes (category "löparskor")
    runner = buyer(preferred_language="en")
    bought(store, runner, shoes())
    Category.objects.filter(code="lopning").update(name="löparskor")
    running_shoes = Category.objects.get(code="lopning")

    # When an offer on that category is explained to her
    text = offer_reason(member=runner, category_ids=[running_shoes.pk])

    # Then it says why in plain words, in her language or another asked for
    assert text == "Because you bought löparskor."
    assert offer_reason(member=runner, language="sv", category_ids=[running_shoes.pk]) == (
        "Eftersom du köpte löparskor."
    )


def test_offer_reason_without_consent_or_target_is_for_everyone(store, small_club):
    other = buyer(profiling=False, preferred_language="sv")
    bought(store, other, shoes())
    category = Category.objects.get(code="lopning")
    assert offer_reason(member=other, category_ids=[category.pk]) == (
        "Ett erbjudande till alla medlemmar."
    )
    assert offer_reason(member=small_club["m1"], language="en") == "An offer for every member."


def test_recommendations_erase_deletes_the_members_rows(store, small_club):
    affinities_compute()
    recommendations_compute()
    m1 = small_club["m1"]
    assert MemberRecommendation.objects.filter(member=m1).exists()
    assert recommendations_erase(member=m1) > 0
    assert recommendations_erase(member=m1) == 0


def test_personalisation_run_records_what_it_did(small_club):
    run = personalisation_run()
    run.refresh_from_db()
    assert run.finished_at is not None
    assert run.baskets == 5
    assert run.product_pairs == ProductAffinity.objects.count()
    assert run.members_scored == 2
    assert run.recommendations == MemberRecommendation.objects.count()
    assert PersonalisationRun.objects.count() == 1


# --- why you got this offer, for a list of offers -------------------------------------------


def test_offer_reasons_for_a_list_of_offers_in_a_fixed_number_of_queries(
    store, small_club, django_assert_max_num_queries
):
    # Given a runner who bought jeans and running shoes and chose the interest "skiing",
    # mapped to the category "skidor"
    from campaigns.personalisation.selectors import offer_reasons

    skis = Category.objects.create(code="skidor", name="skidor")
    InterestCategory.objects.create(interest=Interest.objects.get(code="skiing"), category=skis)
    runner = buyer(preferred_language="en")
    bought(store, runner, jeans(), shoes())
    interests_set(
        member=runner, interest_ids=[Interest.objects.get(code="skiing").pk], actor=runner.user
    )
    affinities_compute()
    recommendations_compute()
    jeans_id = _product("JEANS").pk
    running = Category.objects.get(code="lopning").pk

    # When four offers are explained at once
    with django_assert_max_num_queries(9):
        reasons = offer_reasons(
            member=runner,
            offers=[
                ("jeans", jeans_id, None),  # a product she bought
                ("shirt", _product("SHIRT").pk, None),  # recommended: goes with the jeans
                ("running", None, running),  # a category she bought in
                ("skis", None, skis.pk),  # an interest she chose
                ("all", None, None),  # not targeted
            ],
        )

    # Then each has its own plain reason
    assert reasons == {
        "jeans": "Because you bought Jeans 501.",
        "shirt": "Because you bought Jeans 501: they are often bought together.",
        "running": "Because you bought lopning.",
        "skis": "Because you said you like skiing.",
        "all": "An offer for every member.",
    }


def test_offers_with_reasons_tag_pairs_each_member_offer_with_its_reason(store, small_club):
    from django.template import Context, Template
    from django.utils import translation

    from campaigns.models import MemberOffer
    from tests.factories import campaigns as campaign_factories

    runner = buyer(preferred_language="sv")
    bought(store, runner, shoes())
    offer = campaign_factories.offer(category=Category.objects.get(code="lopning"))
    campaign = campaign_factories.campaign(offer_obj=offer)
    MemberOffer.objects.create(member=runner, offer=offer, campaign=campaign)
    template = Template(
        "{% load personalisation_tags %}{% offers_with_reasons member offers as rows %}"
        "{% for mo, why in rows %}[{{ why }}]{% endfor %}"
    )

    with translation.override("sv"):
        html = template.render(
            Context({"member": runner, "offers": MemberOffer.objects.select_related("offer")})
        )

    assert html == "[Eftersom du köpte lopning.]"
