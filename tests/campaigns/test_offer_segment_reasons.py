"""Why an offer sent to a segment reached the member (issue 16): the interest they told us
("Eftersom du sa att du gillar löpning"), their tier or a category they bought, from the
segment's required conditions; never "to every member"."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from campaigns.models import MemberOffer
from campaigns.personalisation.segment_reasons import required_conditions
from campaigns.personalisation.selectors import offer_reasons
from consent.models import Interest
from consent.services.preferences import interests_set
from rewards.models import Category
from tests.factories import campaigns as cf
from tests.factories import consent as cf_consent
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


def _offer_sent(member, criteria):
    segment = cf.segment(criteria)
    offer = cf.offer(title_sv="Löparvecka", title_en="Running week")
    camp = cf.campaign(segment_obj=segment, offer_obj=offer)
    return MemberOffer.objects.create(member=member, offer=offer, campaign=camp), camp


def _why(member, member_offer, campaign, language):
    return offer_reasons(
        member=member,
        offers=[(member_offer.pk, None, None)],
        language=language,
        campaigns={member_offer.pk: campaign},
    )[member_offer.pk]


RUNNERS = {
    "op": "and",
    "children": [
        {"field": "language", "value": ["sv", "en"]},
        {"field": "interest", "value": ["football", "running"]},
    ],
}


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("sv", "Eftersom du sa att du gillar löpning."),
        ("en", "Because you said you like running."),
    ],
)
def test_an_offer_caused_by_an_interest_says_so(member, language, expected):
    interests_set(
        member=member,
        interest_ids=[Interest.objects.get(code="running").pk],
        actor=member.user,
    )
    member_offer, camp = _offer_sent(member, RUNNERS)

    assert _why(member, member_offer, camp, language) == expected


def test_the_offers_page_shows_the_interest_reason(member):
    interests_set(
        member=member, interest_ids=[Interest.objects.get(code="running").pk], actor=member.user
    )
    _offer_sent(member, RUNNERS)
    client = Client(headers={"accept-language": "sv"})
    client.force_login(member.user)

    html = client.get("/mina-sidor/erbjudanden/").content.decode()

    why = re.search(r'data-testid="offer-why">(.*?)</p>', html, re.S)
    assert why
    assert " ".join(why.group(1).split()) == "Varför? Eftersom du sa att du gillar löpning."


def test_an_interest_the_member_has_since_removed_names_the_group(member):
    member_offer, camp = _offer_sent(member, {"field": "interest", "value": ["running"]})
    assert _why(member, member_offer, camp, "sv") == (
        "Ett erbjudande till medlemmar som gillar löpning."
    )


def test_a_tier_or_category_segment_is_told_in_plain_words(member):
    rf.ladder()
    Category.objects.create(code="skor", name="löparskor")
    gold, gold_camp = _offer_sent(member, {"field": "tier", "value": ["guld"]})
    shoes, shoes_camp = _offer_sent(member, {"field": "bought_category", "value": ["skor"]})

    assert _why(member, gold, gold_camp, "sv") == "Ett erbjudande till medlemmar i nivån Guld."
    assert _why(member, gold, gold_camp, "en") == "An offer for Gold members."
    assert _why(member, shoes, shoes_camp, "sv") == (
        "Ett erbjudande till medlemmar som har handlat löparskor."
    )


def test_an_or_or_negated_condition_is_not_claimed(member):
    either = {
        "op": "or",
        "children": [
            {"field": "interest", "value": ["running"]},
            {"field": "language", "value": ["sv"]},
        ],
    }
    member_offer, camp = _offer_sent(member, either)
    assert list(required_conditions(either)) == []
    assert list(required_conditions({"field": "interest", "value": ["x"], "negate": True})) == []
    assert _why(member, member_offer, camp, "sv") == (
        "Ett erbjudande till en grupp medlemmar som du hör till."
    )
    assert _why(member, member_offer, camp, "en") == (
        "An offer for a group of members you belong to."
    )


def test_the_members_word_wins_and_a_bought_category_gives_way(member, store):
    # Given a member who agreed to personal offers, bought running shoes and likes running
    cf_consent.granted(member, "profiling")
    rf.purchase(
        store=store,
        member=member,
        lines=[rf.line(sku="SHOE", name="Löparsko X", category="lopning", price_ore=129900)],
    )
    shoes = Category.objects.get(code="lopning")
    Category.objects.filter(pk=shoes.pk).update(name="löparskor")
    interests_set(
        member=member, interest_ids=[Interest.objects.get(code="running").pk], actor=member.user
    )
    by_interest, interest_camp = _offer_sent(member, RUNNERS)
    by_category, category_camp = _offer_sent(
        member, {"field": "bought_category", "value": ["lopning"]}
    )

    # When both offers are on running shoes and explained together
    reasons = offer_reasons(
        member=member,
        offers=[(by_interest.pk, None, shoes.pk), (by_category.pk, None, shoes.pk)],
        language="en",
        campaigns={by_interest.pk: interest_camp, by_category.pk: category_camp},
    )

    # Then the interest she told us says why the first came; her purchase says more than
    # the segment's "members who have bought" for the second
    assert reasons[by_interest.pk] == "Because you said you like running."
    assert reasons[by_category.pk] == "Because you bought löparskor."
