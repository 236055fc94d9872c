"""campaigns' part of a merge of two members (campaigns.merging, docs/campaigns.md "Merged
members"): deliveries, offers, inbox, contact budgets, static lists and recommendations
move to the survivor; a message both would get is sent once; a tombstone is never in an
audience."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from campaigns.authoring import segment_import_csv
from campaigns.merging import REASON_MERGED, STAYS
from campaigns.models import (
    ContactBudget,
    Delivery,
    InboxMessage,
    MemberOffer,
    MemberRecommendation,
    SegmentMember,
)
from campaigns.sending.audience import audience
from members.merging import member_merge
from members.models import Member
from rewards.models import Product
from tests import factories
from tests.factories import campaigns as cf

pytestmark = pytest.mark.django_db


def _delivery(campaign, member, *, status=Delivery.Status.PENDING, channel="email"):
    return Delivery.objects.create(
        campaign=campaign,
        variant=campaign.variants.first(),
        member=member,
        channel=channel,
        status=status,
    )


@pytest.fixture
def pair(db):
    survivor = factories.member_with_user(email="anna@example.se", first_name="Anna")
    merged = factories.member_with_user(email="anna.s@example.se", first_name="Anna")
    return survivor, merged


def test_merge_moves_campaign_rows_and_a_message_both_would_get_is_sent_once(pair):
    survivor, merged = pair
    now = timezone.now()
    both = cf.campaign(channels=["email"])
    only_merged = cf.campaign(channels=["email"])
    # both are due the same campaign on the same channel; the merged member also got another
    kept = _delivery(both, survivor)
    duplicate = _delivery(both, merged)
    sent = _delivery(only_merged, merged, status=Delivery.Status.SENT)
    # the same offer: the survivor's still available, the merged member's activated
    offer = cf.offer()
    mine = MemberOffer.objects.create(member=survivor, offer=offer, campaign=both)
    MemberOffer.objects.create(
        member=merged,
        offer=offer,
        campaign=both,
        status=MemberOffer.Status.ACTIVE,
        activated_at=now,
        active_until=now + datetime.timedelta(days=7),
    )
    InboxMessage.objects.create(member=merged, delivery=sent, title="Hej")
    ContactBudget.objects.create(member=survivor, week=now.date(), used=1)
    ContactBudget.objects.create(member=merged, week=now.date(), used=2)
    segment_import_csv(
        name="VIP", content=f"{survivor.membership_number}\n{merged.membership_number}"
    )
    product = Product.objects.create(sku="REC-1")
    MemberRecommendation.objects.create(
        member=merged, rank=1, product=product, score=1.0, reason="popular"
    )

    audit = member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # the survivor keeps their delivery; the merged member's duplicate stays, cancelled
    assert Delivery.objects.get(pk=kept.pk).member_id == survivor.pk
    duplicate.refresh_from_db()
    assert (duplicate.member_id, duplicate.status, duplicate.reason) == (
        merged.pk,
        Delivery.Status.CANCELLED,
        REASON_MERGED,
    )
    assert Delivery.objects.get(pk=sent.pk).member_id == survivor.pk
    # one offer, as far as either got (activated), on the survivor
    offers = list(MemberOffer.objects.filter(offer=offer))
    assert [o.pk for o in offers] == [mine.pk]
    assert offers[0].member_id == survivor.pk
    assert offers[0].status == MemberOffer.Status.ACTIVE
    assert offers[0].activated_at == now
    assert InboxMessage.objects.get(delivery=sent).member_id == survivor.pk
    assert ContactBudget.objects.get(member=survivor, week=now.date()).used == 3
    assert not ContactBudget.objects.filter(member=merged).exists()
    assert SegmentMember.objects.filter(member=survivor).count() == 1
    assert not SegmentMember.objects.filter(member=merged).exists()
    assert MemberRecommendation.objects.get(product=product).member_id == survivor.pk
    assert audit.moved["campaigns.deliveries"] == 1
    assert audit.moved["campaigns.deliveries_kept_on_merged"] == 1
    # and nothing else of campaigns is left on the tombstone
    from django.apps import apps

    left = {
        f"campaigns.{model.__name__}.{field.name}"
        for model in apps.get_app_config("campaigns").get_models()
        for field in model._meta.concrete_fields
        if field.is_relation
        and field.related_model is Member
        and model._default_manager.filter(**{field.name: merged}).exists()
    }
    assert left <= set(STAYS), left - set(STAYS)


def test_a_merged_member_is_never_in_a_campaigns_audience(pair):
    survivor, merged = pair
    everyone = cf.campaign(channels=["email"])
    listed = cf.campaign(
        channels=["email"],
        segment_obj=segment_import_csv(
            name="Both", content=f"{survivor.membership_number}\n{merged.membership_number}"
        ),
    )
    assert {survivor.pk, merged.pk} <= set(audience(everyone).values_list("pk", flat=True))

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    for campaign in (everyone, listed):
        ids = set(audience(campaign).values_list("pk", flat=True))
        assert survivor.pk in ids
        assert merged.pk not in ids


def test_a_survivor_matches_points_earned_on_what_both_earned(pair):
    from campaigns.segments import members_matching
    from tests.factories import rewards as rf

    survivor, merged = pair
    rf.earned(survivor, 100)
    rf.earned(merged, 150)
    criteria = {"field": "points_earned", "cmp": "gte", "value": 200, "days": 30}
    assert not members_matching(criteria).filter(pk=survivor.pk).exists()

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # the earn entries stay on the tombstone; the survivor is counted on both
    matching = set(members_matching(criteria).values_list("pk", flat=True))
    assert survivor.pk in matching
    assert merged.pk not in matching
