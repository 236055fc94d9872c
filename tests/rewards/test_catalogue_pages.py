"""Member pages for tiers, the catalogue, vouchers, challenges, referrals and reviews: in
Swedish and English, only the member's own vouchers, claims through the one service."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.utils import translation

from rewards.models import MemberTier, Review, Voucher
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for(member):
    def make(language: str = "sv") -> Client:
        client = Client(headers={"accept-language": language})
        client.force_login(member.user)
        member.preferred_language = language
        member.save(update_fields=["preferred_language"])
        return client

    return make


@pytest.mark.parametrize(
    ("language", "texts"),
    [
        ("sv", ["380 poäng kvar till Guld", "Nivåer och förmåner", "Stegen"]),
        ("en", ["380 points left to Gold", "Tiers and benefits", "The ladder"]),
    ],
)
def test_tier_page_shows_progress_in_both_languages(client_for, member, language, texts):
    # given a Silver member with 2,620 points earned this year
    rf.ladder()
    rf.earned(member, 2620)
    from rewards.loyalty.tiers import tiers_reevaluate

    tiers_reevaluate()

    # when they open the tier page and My pages
    client = client_for(language)
    page = client.get("/mina-sidor/nivaer/").content.decode()
    home = client.get("/mina-sidor/").content.decode()

    # then the ladder and what is left to the next tier show, in their language
    for text in texts:
        assert text in page
    assert texts[0] in home


def test_catalogue_claim_and_voucher_pages(client_for, member):
    # given a member with 500 points and a voucher reward
    rf.earned(member, 500)
    reward = rf.reward(code="femtio", points_cost=300, name_sv="50 kr rabatt", name_en="SEK 50 off")
    client = client_for("sv")

    # when they browse, open and claim it
    listing = client.get("/mina-sidor/beloningar/?rad=1").content.decode()
    assert "50 kr rabatt" in listing
    detail = client.get("/mina-sidor/beloningar/femtio/")
    assert detail.status_code == 200
    key = str(uuid.uuid4())
    response = client.post("/mina-sidor/beloningar/femtio/", {"idempotency_key": key})
    # and the confirmation is sent twice (a double click)
    client.post("/mina-sidor/beloningar/femtio/", {"idempotency_key": key})

    # then one voucher, shown with its QR code
    voucher = Voucher.objects.get(member=member, reward=reward)
    assert response.status_code == 302
    assert response["Location"] == f"/mina-sidor/vouchers/{voucher.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "<svg" in page
    assert voucher.formatted_code in page
    assert voucher.formatted_code in client.get("/mina-sidor/vouchers/").content.decode()


def test_claim_page_shows_sold_out_as_a_form_error(client_for, member):
    rf.earned(member, 500)
    reward = rf.reward(code="sista", points_cost=100, stock=1)
    other = factories.member_with_user()
    rf.earned(other, 500)
    client = client_for("en")
    page = client.get("/mina-sidor/beloningar/sista/")
    assert page.status_code == 200
    rf.claim(other, reward)
    response = client.post("/mina-sidor/beloningar/sista/", {"idempotency_key": str(uuid.uuid4())})
    assert response.status_code == 200
    assert "sold out" in response.content.decode()
    assert not Voucher.objects.filter(member=member).exists()


def test_voucher_pages_only_show_own_vouchers(client_for, member):
    other = factories.member_with_user()
    rf.earned(other, 500)
    theirs = rf.claim(other, rf.reward(points_cost=100))
    client = client_for("sv")
    assert client.get(f"/mina-sidor/vouchers/{theirs.pk}/").status_code == 404
    client.post(f"/mina-sidor/vouchers/{theirs.pk}/avboka/")
    theirs.refresh_from_db()
    assert theirs.status == "issued"


def test_voucher_cancel_page_returns_points(client_for, member):
    rf.earned(member, 500)
    voucher = rf.claim(member, rf.reward(points_cost=300))
    client = client_for("sv")
    response = client.post(f"/mina-sidor/vouchers/{voucher.pk}/avboka/", follow=True)
    assert "300" in response.content.decode()
    voucher.refresh_from_db()
    assert voucher.status == "cancelled"


def test_tier_only_reward_is_hidden_and_404_for_lower_tiers(client_for, member):
    ladder = rf.ladder()
    MemberTier.objects.create(member=member, tier=ladder["bas"])
    rf.reward(code="guldfest", min_tier=ladder["guld"])
    client = client_for("sv")
    assert "guldfest" not in client.get("/mina-sidor/beloningar/").content.decode()
    assert client.get("/mina-sidor/beloningar/guldfest/").status_code == 404


def test_challenges_referrals_reviews_pages_render(client_for, member):
    client = client_for("en")
    with translation.override("en"):
        assert "Challenges" in client.get("/mina-sidor/utmaningar/").content.decode()
        referral = client.get("/mina-sidor/tipsa/").content.decode()
        assert "/tipsa/" in referral
        response = client.post(
            "/mina-sidor/recensioner/", {"kind": "review", "text": "Mycket bra butik och personal!"}
        )
    assert response.status_code == 302
    assert Review.objects.filter(member=member, status="pending").count() == 1
    short = client.post("/mina-sidor/recensioner/", {"kind": "review", "text": "Bra"})
    assert short.status_code == 200
    assert Review.objects.filter(member=member).count() == 1


def test_anonymous_visitor_is_sent_to_login(db):
    response = Client().get("/mina-sidor/beloningar/")
    assert response.status_code == 302
    assert "/konto/login/" in response["Location"]


def test_catalogue_and_voucher_pages_in_fixed_queries(
    client_for, member, django_assert_max_num_queries
):
    # given many rewards and vouchers, the pages cost the same number of queries as with few
    rf.earned(member, 10_000)
    ladder = rf.ladder()
    MemberTier.objects.create(member=member, tier=ladder["silver"])
    for n in range(8):
        reward = rf.reward(points_cost=100, min_tier=ladder["bas"] if n % 2 else None)
        rf.claim(member, reward)
    client = client_for("sv")
    client.get("/mina-sidor/beloningar/")  # warm the session and caches
    with django_assert_max_num_queries(7):
        assert client.get("/mina-sidor/beloningar/").status_code == 200
    with django_assert_max_num_queries(7):
        assert client.get("/mina-sidor/vouchers/").status_code == 200
