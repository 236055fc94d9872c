"""Offers on "My offers": activation, bonus points at earning time, redemption tracking."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db.models import Sum

from campaigns.authoring import campaign_launch
from campaigns.errors import OfferNotActivatableError
from campaigns.models import Delivery, MemberOffer, Offer
from campaigns.offers import offer_activate
from members.errors import NotFoundError
from rewards.models import Category
from rewards.rules.earning import LineForEarning, earning_calculate, rules_active
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consent_f
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db
# Yesterday at noon: offers sent then are still within their 30 days to activate now.
STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOON = datetime.datetime.combine(
    datetime.datetime.now(STOCKHOLM).date() - datetime.timedelta(days=1),
    datetime.time(12),
    tzinfo=STOCKHOLM,
)


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    def _run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return _run


@pytest.fixture
def shoes(db) -> Category:
    return Category.objects.create(code="shoes", name="Skor")


def _offer_to(member, run, shoes) -> MemberOffer:
    offer = cf.offer(
        kind=Offer.Kind.BONUS_POINTS,
        multiplier=Decimal("3"),
        category=shoes,
        bonus_days=14,
        title_sv="3x poäng på skor",
        title_en="3x points on shoes",
    )
    campaign = cf.campaign(channels=["onsite"], offer_obj=offer)
    with time_machine.travel(NOON, tick=False):
        run(campaign_launch, campaign=campaign, actor=None)
    return MemberOffer.objects.get(member=member)


def test_offer_activate_applies_multiplier_when_the_ledger_earns(run, shoes):
    anna = factories.member_with_user()
    consent_f.granted(anna, "profiling")
    item = _offer_to(anna, run, shoes)
    rf.base_rule()
    line = LineForEarning(product_id=None, category_id=shoes.pk, quantity=1, unit_price_ore=10000)
    day = NOON.date()
    before = earning_calculate(
        lines=[line],
        store_id=1,
        tier_id=None,
        day=day,
        total_ore=10000,
        rules=rules_active(),
        member_id=anna.pk,
    )
    with time_machine.travel(NOON, tick=False):
        activated = offer_activate(member=anna, member_offer_id=item.pk)
    after = earning_calculate(
        lines=[line],
        store_id=1,
        tier_id=None,
        day=day,
        total_ore=10000,
        rules=rules_active(),
        member_id=anna.pk,
    )
    assert (before.total, after.total) == (100, 300)
    assert after.explanation[-1]["en"] == "3x points on shoes"
    assert activated.active_until == NOON + datetime.timedelta(days=14)
    assert Delivery.objects.get().activated_at == NOON
    assert anna.events.filter(kind="offer_activated").count() == 1
    # After the bonus period the multiplier no longer applies.
    late = earning_calculate(
        lines=[line],
        store_id=1,
        tier_id=None,
        day=day + datetime.timedelta(days=15),
        total_ore=10000,
        rules=rules_active(),
        member_id=anna.pk,
    )
    assert late.total == 100


def test_offer_activate_twice_is_refused_and_others_offers_are_not_found(run, shoes):
    anna = factories.member_with_user()
    bo = factories.member_with_user()
    consent_f.granted(anna, "profiling")
    item = _offer_to(anna, run, shoes)
    with pytest.raises(NotFoundError):
        offer_activate(member=bo, member_offer_id=item.pk)
    offer_activate(member=anna, member_offer_id=item.pk)
    with pytest.raises(OfferNotActivatableError):
        offer_activate(member=anna, member_offer_id=item.pk)


def test_purchase_in_the_bonus_category_marks_the_delivery_redeemed(run, shoes, store):
    anna = factories.member_with_user()
    consent_f.granted(anna, "profiling")
    item = _offer_to(anna, run, shoes)
    offer_activate(member=anna, member_offer_id=item.pk)
    rf.base_rule()
    run(rf.purchase, store=store, member=anna, lines=[rf.line("SOCK", 1, 5000, category="socks")])
    assert Delivery.objects.get().redeemed_at is None
    shoes_purchase = run(
        rf.purchase, store=store, member=anna, lines=[rf.line("RUN", 1, 90000, category="shoes")]
    )
    assert Delivery.objects.get().redeemed_at is not None
    # The activated 3x offer applies at the till: 900 SEK earns 3 x 900 points.
    earned = shoes_purchase.purchase.entries.filter(kind="earn").aggregate(p=Sum("points"))["p"]
    assert earned == 2700


def test_activated_offer_applies_to_a_purchase_the_till_posts(run, shoes, till):
    # given Anna activated "3x points on shoes" (read with her at the till, in one query)
    client, _key = till
    anna = factories.member_with_user()
    consent_f.granted(anna, "profiling")
    offer_activate(member=anna, member_offer_id=_offer_to(anna, run, shoes).pk)
    rf.base_rule()

    # when the till posts a 900 SEK pair of shoes and 50 SEK of socks
    response = client.post(
        "/api/v1/purchases/",
        {
            "receipt_id": "K1-3X",
            "member": {"membership_number": anna.membership_number},
            "total_ore": 95000,
            "lines": [
                {"sku": "RUN", "category": "shoes", "quantity": 1, "unit_price_ore": 90000},
                {"sku": "SOCK", "category": "socks", "quantity": 1, "unit_price_ore": 5000},
            ],
        },
        format="json",
    )

    # then the shoes earn three times, explained in both languages
    assert response.status_code == 201, response.content
    points = response.json()["points"]
    assert points["earned"] == 2700 + 50
    assert {"points": 1800, "sv": "3x poäng på skor", "en": "3x points on shoes"} in points[
        "explanation"
    ]


def test_my_offers_page_lists_offers_and_activates_with_aktivera(run, shoes, client):
    anna = factories.member_with_user(email="anna@example.se")
    consent_f.granted(anna, "profiling")
    item = _offer_to(anna, run, shoes)
    client.force_login(anna.user)
    page = client.get("/mina-sidor/erbjudanden/")
    assert page.status_code == 200
    assert "3x poäng på skor" in page.content.decode()
    assert "Aktivera" in page.content.decode()
    assert 'data-testid="offer-why"' in page.content.decode()
    response = client.post(f"/mina-sidor/erbjudanden/{item.pk}/aktivera/")
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == "active"
    home = client.get("/mina-sidor/")
    assert "erbjudanden" in home.content.decode()


def test_my_offers_activate_someone_elses_offer_is_404(run, shoes, client):
    anna = factories.member_with_user()
    bo = factories.member_with_user()
    consent_f.granted(anna, "profiling")
    item = _offer_to(anna, run, shoes)
    client.force_login(bo.user)
    assert client.post(f"/mina-sidor/erbjudanden/{item.pk}/aktivera/").status_code == 404
    item.refresh_from_db()
    assert item.status == "available"


def test_my_offers_query_count_does_not_grow_with_offers(
    run, shoes, client, django_assert_max_num_queries, settings
):
    settings.CAMPAIGNS_MAX_MESSAGES_PER_WEEK = 10
    anna = factories.member_with_user()
    consent_f.granted(anna, "profiling")
    _offer_to(anna, run, shoes)
    client.force_login(anna.user)
    with django_assert_max_num_queries(20) as one:
        client.get("/mina-sidor/erbjudanden/")
    for _ in range(4):
        campaign = cf.campaign(channels=["onsite"], offer_obj=cf.offer())
        with time_machine.travel(NOON, tick=False):
            run(campaign_launch, campaign=campaign, actor=None)
    assert MemberOffer.objects.filter(member=anna).count() == 5
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert client.get("/mina-sidor/erbjudanden/").status_code == 200
