"""Merge fields read from the apps below, at send time: points to the next tier (rewards'
tier thresholds, in the member's language) and recommended products (personalisation's
consent-checking selector); the "my data" section "What we recommend and why"."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Variant
from campaigns.sending import rendering
from rewards.models import MemberTier
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consent_f
from tests.factories import personalisation as pf
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


def _contexts(members, *fields):
    return rendering.member_contexts([rendering.person_of(m) for m in members], fields=set(fields))


def test_member_contexts_points_to_next_tier_in_each_members_language():
    # given the ladder Bas 0 / Silver 1,000 / Guld 3,000 / Platina 8,000 points a year, and
    # a Swedish Silver member with 1,250 points, an English member with none, a Platinum one
    ladder = rf.ladder()
    anna = factories.member_with_user(preferred_language="sv")
    bo = factories.member_with_user(preferred_language="en")
    carl = factories.member_with_user(preferred_language="sv")
    rf.earned(anna, 1250)
    rf.earned(carl, 9000)
    MemberTier.objects.create(member=anna, tier=ladder["silver"])
    MemberTier.objects.create(member=bo, tier=ladder["bas"])
    MemberTier.objects.create(member=carl, tier=ladder["platina"])

    # when the field is looked up for all three (a fixed number of queries)
    with CaptureQueriesContext(connection) as queries:
        contexts = _contexts([anna, bo, carl], "points_to_next_tier")

    # then each gets the distance to their next tier in their language; the top tier none
    assert contexts[anna.pk]["points_to_next_tier"] == "1\xa0750 poäng kvar till Guld"
    assert contexts[bo.pk]["points_to_next_tier"] == "1,000 points to Silver"
    assert contexts[carl.pk]["points_to_next_tier"] == ""
    assert len(queries) == 3


def test_member_contexts_points_to_next_tier_skips_tiers_already_reached():
    # given a Bas member who has earned enough for Silver but has not been upgraded yet
    ladder = rf.ladder()
    anna = factories.member_with_user(preferred_language="en")
    MemberTier.objects.create(member=anna, tier=ladder["bas"])
    rf.earned(anna, 1001)

    # when the field is looked up
    contexts = _contexts([anna], "points_to_next_tier")

    # then it counts towards the first tier she has not reached
    assert contexts[anna.pk]["points_to_next_tier"] == "1,999 points to Gold"


def test_member_contexts_points_to_next_tier_on_spend_basis_in_kronor(settings):
    # given tiers by spend (Silver at 2,000 SEK) and a member who spent nothing
    settings.REWARDS_TIER_BASIS = "spend"
    rf.tier(code="bas", rank=0)
    rf.tier(code="silver", rank=1, name_sv="Silver", threshold_spend_ore=200000)
    anna = factories.member_with_user(preferred_language="sv")

    # when the field is looked up
    contexts = _contexts([anna], "points_to_next_tier")

    # then the distance is an amount in kronor
    assert contexts[anna.pk]["points_to_next_tier"] == "2\xa0000 kr kvar till Silver"


def test_render_variant_points_to_next_tier_in_the_message():
    # given a Silver member and an SMS text using the field
    ladder = rf.ladder()
    anna = factories.member_with_user(preferred_language="sv")
    MemberTier.objects.create(member=anna, tier=ladder["silver"])
    variant = Variant(sms_text_sv="Bara {{ points_to_next_tier }}!", sms_text_en="")
    context = _contexts([anna], *rendering.fields_used(variant.sms_text_sv))[anna.pk]

    # when the message is rendered
    rendered = rendering.render_variant(variant=variant, language="sv", context=context)

    # then the member reads how far Guld is
    assert rendered.sms == "Bara 3\xa0000 poäng kvar till Guld!"


def test_preview_recommended_products_empty_right_after_profiling_is_withdrawn():
    # given a member with a stored recommendation and profiling consent
    anna = factories.member_with_user(preferred_language="sv")
    consent_f.granted(anna, "profiling")
    pf.recommendation_with_every_field(anna)
    campaign = cf.campaign(channels=["sms"])
    variant = campaign.variants.get()
    variant.sms_text_sv = "Tips för dig: {{ recommended_products }}"
    variant.save(update_fields=["sms_text_sv"])
    assert rendering.preview(campaign=campaign, variant=variant, member=anna)["rendered"].sms == (
        "Tips för dig: Regnjacka"
    )

    # when she withdraws profiling a moment before sending (the row is still stored: the
    # consumer that deletes it runs after commit)
    consent_f.withdrawn(anna, "profiling")

    # then the message recommends nothing
    rendered = rendering.preview(campaign=campaign, variant=variant, member=anna)["rendered"]
    assert rendered.sms == "Tips för dig: "


def test_member_contexts_recommended_products_one_query_for_a_batch():
    # given three consenting members with recommendations
    members = [factories.member_with_user() for _ in range(3)]
    for member in members:
        consent_f.granted(member, "profiling")
        pf.recommendation_with_every_field(member)

    # when the field is looked up for the batch
    with CaptureQueriesContext(connection) as queries:
        contexts = _contexts(members, "recommended_products")

    # then every member gets theirs, in one query
    assert {ctx["recommended_products"] for ctx in contexts.values()} == {"Regnjacka"}
    assert len(queries) == 1


def test_my_data_page_shows_what_we_recommend_and_why(client):
    # given a member with a recommendation and profiling consent
    anna = factories.member_with_user(preferred_language="sv")
    consent_f.granted(anna, "profiling")
    pf.recommendation_with_every_field(anna)
    client.force_login(anna.user)

    # when she opens "my data", then after withdrawing profiling
    before = client.get("/mina-sidor/mina-data/").content.decode()
    consent_f.withdrawn(anna, "profiling")
    after = client.get("/mina-sidor/mina-data/").content.decode()

    # then the section lists the product and why, and nothing once she withdrew
    assert "Vad vi rekommenderar och varför" in before
    assert "Regnjacka" in before
    assert "Eftersom du köpte Stövlar" in before
    assert "Regnjacka" not in after
    assert "Vi rekommenderar inget till dig just nu." in after
