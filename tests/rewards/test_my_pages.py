""" "My pages" (issue 16): the panels rewards and campaigns register through members.pages,
for a member with nothing yet and for one with points, a tier, an offer and a challenge, in
Swedish and English. The query budget of the page is tests/members/test_page_queries.py's."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import MemberOffer
from rewards.loyalty.tiers import tiers_reevaluate
from rewards.models import Challenge, ChallengeProgress, PointLot
from tests.factories import campaigns as cf
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db

MONTHS_SV = "januari februari mars april maj juni juli augusti september oktober november december"


def _page(member, language: str = "sv") -> str:
    client = Client(headers={"accept-language": language})
    client.force_login(member.user)
    response = client.get("/mina-sidor/")
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


def _text(html: str) -> str:
    """The words of ``html`` without its tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def _testid(html: str, name: str) -> str:
    """The text of the element with ``data-testid=name``."""
    match = re.search(rf'<(\w+)[^>]*data-testid="{name}"[^>]*>(.*?)</\1>', html)
    assert match, f"no {name} in the page"
    return _text(match.group(2))


def _long_date_sv(day: datetime.date) -> str:
    return f"{day.day} {MONTHS_SV.split()[day.month - 1]} {day.year}"


def test_a_new_member_sees_sensible_empty_states(member):
    # given a member who has just joined: no points, no tier set up, no offers, no challenges
    html = _page(member)

    # then the balance is 0 with a word on how points are earned, and nothing waits
    assert _testid(html, "points-available") == "0"
    assert _testid(html, "points-empty") == "Du får poäng varje gång du handlar med ditt kort."
    assert 'data-testid="points-pending"' not in html
    assert 'data-testid="points-expiry"' not in html
    # no tier panel without a ladder: nothing to wait for, and never "after your first purchase"
    assert 'class="card-panel tier-panel"' not in html
    assert "första köp" not in html
    # no offers yet, said kindly; no challenge panel when none runs
    assert "Inga erbjudanden just nu" in _testid(html, "offers-empty")
    assert 'data-testid="challenge-panel"' not in html


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("sv", "Ditt första köp ger dig nivån Bas."),
        ("en", "Your first purchase makes you a Basic member."),
    ],
)
def test_a_new_member_on_a_ladder_is_told_what_the_first_purchase_gives(member, language, expected):
    # given a ladder whose lowest tier needs nothing, and a member who has bought nothing
    rf.ladder()

    html = _page(member, language)

    # then the panel says the first purchase gives the lowest tier: no "0 points left"
    assert _testid(html, "tier-remaining") == expected
    assert "tier-bar" not in html


@pytest.fixture
def busy_member(member, store):
    """A member with a year of purchases: a tier, posted and pending points, an offer sent to
    a segment and a challenge under way."""
    rf.base_rule(name_sv="1 poäng per krona", name_en="1 point per krona")
    rf.ladder()
    now = timezone.now()
    for n in range(11):  # the last a month ago: its points are available
        rf.purchase(
            store=store,
            member=member,
            purchased_at=now - datetime.timedelta(days=330 - n * 30),
            lines=[rf.line(f"SKU-{n}", 1, 10_000)],
        )
    rf.earned(member, 1250)  # available now
    rf.earned(member, 120, pending_days=14)  # pending for two weeks
    tiers_reevaluate()
    segment = cf.segment({"field": "language", "value": ["sv"]}, name="Svensktalande")
    offer = cf.offer(title_sv="Dubbla poäng på löparskor", title_en="Double points on shoes")
    camp = cf.campaign(segment_obj=segment, offer_obj=offer)
    MemberOffer.objects.create(member=member, offer=offer, campaign=camp)
    challenge = Challenge.objects.create(
        code="fem-kop",
        kind="purchases",
        name_sv="Handla fem gånger",
        name_en="Shop five times",
        target=5,
        points=200,
        starts_at=now - datetime.timedelta(days=30),
    )
    ChallengeProgress.objects.create(member=member, challenge=challenge, progress=3)
    return member


def test_a_member_with_a_year_of_purchases_sees_balance_pending_tier_expiry_offer_and_challenge(
    busy_member,
):
    html = _page(busy_member)
    lots = PointLot.objects.filter(member=busy_member)
    first_pending = lots.filter(matured=False).order_by("available_at").first()
    assert first_pending is not None
    pending_day = timezone.localtime(first_pending.available_at).date()
    # the last day points may be used: the day before their lot expires (rewards.selectors)
    last_days = [
        (timezone.localtime(lot.expires_at).date() - datetime.timedelta(days=1), lot.remaining)
        for lot in lots.filter(remaining__gt=0)
    ]
    expiry_day = min(day for day, _points in last_days)
    expiring_points = sum(points for day, points in last_days if day == expiry_day)

    # then the balance is large and grouped in thousands
    available = _testid(html, "points-available")
    assert re.fullmatch(r"\d{1,3}(\xa0\d{3})+", available.replace(" ", "\xa0"))
    assert 'class="points-big number"' in html
    # the pending points and the day they become available
    assert _testid(html, "points-pending") == (
        f"120 poäng väntar 120 poäng tillgängliga från {_long_date_sv(pending_day)}"
    )
    # the tier, a bar and the points left to the next tier
    assert _testid(html, "tier-name") in {"Silver", "Guld"}
    assert re.fullmatch(r"[\d ]+ poäng kvar till (Guld|Platina)", _testid(html, "tier-remaining"))
    assert '<progress class="progress tier-bar" max="100" value="' in html
    # the next expiry
    assert _testid(html, "points-expiry") == (
        f"{expiring_points:,} poäng förfaller efter {_long_date_sv(expiry_day)}".replace(",", " ")
    )
    # the newest offer and the nearest challenge
    assert "Dubbla poäng på löparskor" in _testid(html, "newest-offer")
    challenge = _text(html.split('data-testid="challenge-panel"', 1)[1].split("</section>", 1)[0])
    assert "Handla fem gånger" in challenge
    assert "2 steg kvar" in challenge
    assert '<progress class="progress" max="5" value="3"' in html


def test_my_pages_in_english(busy_member):
    html = _page(busy_member, "en")

    assert re.fullmatch(r"\d{1,3}(,\d{3})+", _testid(html, "points-available"))
    assert _testid(html, "points-pending").startswith(
        "120 points pending 120 points available from "
    )
    assert re.fullmatch(r"[\d,]+ points left to (Gold|Platinum)", _testid(html, "tier-remaining"))
    assert re.fullmatch(
        r"[\d,]+ points? expires? after \d{1,2} \w+ \d{4}", _testid(html, "points-expiry")
    )
    assert "Double points on shoes" in _testid(html, "newest-offer")
    assert "2 steps left" in html


def test_a_completed_challenge_gives_way_to_the_next(busy_member):
    # given the challenge under way is completed, and another runs
    ChallengeProgress.objects.filter(member=busy_member).update(
        progress=5, completed_at=timezone.now()
    )
    Challenge.objects.create(
        code="recensioner",
        kind="reviews",
        name_sv="Skriv två recensioner",
        name_en="Write two reviews",
        target=2,
        starts_at=timezone.now() - datetime.timedelta(days=1),
    )

    html = _page(busy_member)

    # then the panel shows the one not yet done
    challenge = _text(html.split('data-testid="challenge-panel"', 1)[1].split("</section>", 1)[0])
    assert "Skriv två recensioner" in challenge
    assert "Handla fem gånger" not in challenge


def test_a_used_offer_is_not_the_newest_offer(busy_member):
    MemberOffer.objects.filter(member=busy_member).update(status=MemberOffer.Status.USED)

    html = _page(busy_member)

    assert 'data-testid="newest-offer"' not in html
    assert 'data-testid="offers-empty"' in html


def test_an_offer_sent_to_a_segment_does_not_say_it_is_for_every_member(busy_member):
    client = Client(headers={"accept-language": "sv"})
    client.force_login(busy_member.user)

    page = client.get("/mina-sidor/erbjudanden/").content.decode()

    why = _testid(page, "offer-why")
    assert "alla medlemmar" not in why
    assert why == "Varför? Ett erbjudande till en grupp medlemmar som du hör till."


def test_an_offer_sent_to_everyone_says_so(member):
    offer = cf.offer()
    camp = cf.campaign(offer_obj=offer)
    MemberOffer.objects.create(member=member, offer=offer, campaign=camp)
    client = Client(headers={"accept-language": "en"})
    client.force_login(member.user)

    page = client.get("/mina-sidor/erbjudanden/").content.decode()

    assert _testid(page, "offer-why") == "Why? An offer for every member."


def test_points_spent_at_a_checkout_are_named_in_the_history(member, store):
    from rewards.ledger.points import points_redeem

    rf.earned(member, 1500)
    points_redeem(member=member, points=1000, idempotency_key="till-1", store=store)
    client = Client(headers={"accept-language": "sv"})
    client.force_login(member.user)

    page = _text(client.get("/mina-sidor/poang/").content.decode())

    assert re.search(r"Använt · Drottninggatan Betalt med poäng i kassan \u22121 000", page), page
