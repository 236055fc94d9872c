"""The back-office and privacy jobs over more rows than PostgreSQL takes parameters in one
statement (65,535 with server-side binding, the production default): deleting a campaign
with 100,000 deliveries, uploading a list of 70,000 members, erasing a member with a long
history."""

from __future__ import annotations

import time

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, Delivery, Segment, SegmentMember
from consent.services.erasure import member_anonymise
from members.models import ActivityEvent, Member
from members.roles import MARKETER
from rewards.models import Purchase
from tests import factories
from tests.database.conftest import bind_on_server, deliveries_seed, members_seed
from tests.factories import campaigns as cf

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _server_side_binding() -> None:
    assert bind_on_server(), "these tests are about the production database options"


def test_campaign_delete_with_100000_deliveries_from_the_admin(client):
    # Given a sent campaign with 100,000 deliveries, a draft without any, and an administrator
    campaign = cf.campaign(channels=["noop"])
    draft = cf.campaign(channels=["noop"])
    deliveries_seed(
        campaign_id=campaign.pk,
        variant_id=campaign.variants.get().pk,
        member_ids=members_seed(100_000),
    )
    client.force_login(factories.staff_user(superuser=True))
    started = time.monotonic()

    # When they confirm deleting each
    sent = client.post(f"/admin/campaigns/campaign/{campaign.pk}/delete/", {"post": "yes"})
    unsent = client.post(f"/admin/campaigns/campaign/{draft.pk}/delete/", {"post": "yes"})

    # Then the deliveries protect the sent one (they are its results): the page says how
    # many, nothing is deleted; the draft is gone with its variant
    assert time.monotonic() - started < 30
    assert sent.status_code == 200
    assert sent.context["protected"] == ["Utskick: 100\xa0000"]  # the admin speaks Swedish
    assert Delivery.objects.filter(campaign=campaign).count() == 100_000
    assert Campaign.objects.filter(pk=campaign.pk).exists()
    assert unsent.status_code == 302
    assert not Campaign.objects.filter(pk=draft.pk).exists()


def test_static_segment_of_70000_members_uploaded_in_the_admin(client):
    # Given 70,000 members and a marketer with their membership numbers in a CSV file
    ids = members_seed(70_000, prefix="7")
    numbers = [f"7{i:09d}" for i in range(1, 70_001)]
    lines = ["medlemsnummer", *numbers, numbers[0], "not-a-number", "7999999999"]
    upload = SimpleUploadedFile("vip.csv", "\n".join(lines).encode(), content_type="text/csv")
    client.force_login(factories.staff_user(role=MARKETER))

    # When they upload it
    response = client.post("/admin/campaigns/segment/import/", {"name": "VIP", "file": upload})

    # Then the segment holds every one of them, and the report counts the rest
    assert response.status_code == 302
    segment = Segment.objects.get(name="VIP")
    assert segment.kind == Segment.Kind.STATIC
    assert (
        sorted(SegmentMember.objects.filter(segment=segment).values_list("member_id", flat=True))
        == ids
    )
    report = segment.import_report
    assert (report["lines"], report["matched"], report["duplicates"], report["rejected"]) == (
        70_003,
        70_000,
        1,
        2,
    )


def _history_seed(member: Member, store_id: int, *, events: int, purchases: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO members_activityevent (member_id, kind, data, source, created_at) "
            "SELECT %s, 'checked_in', jsonb_build_object('n', g), 'web', now() "
            "FROM generate_series(1, %s) AS g",
            [member.pk, events],
        )
        cursor.execute(
            "INSERT INTO rewards_purchase (member_id, store_id, receipt_id, total_ore, "
            "purchased_at, recorded_at, request_hash, points_earned, points_reversed, "
            "explanation) "
            "SELECT %s, %s, 'params-' || g, 10000, now(), now(), '', 0, 0, '{}' "
            "FROM generate_series(1, %s) AS g",
            [member.pk, store_id, purchases],
        )


def test_member_erasure_with_a_long_history(store):
    # Given a member with thousands of timeline events, purchases and messages, on static
    # lists, and signed in on 70,000 devices (erasure deletes their live sessions by key)
    member = factories.member_with_user(
        email="lang.historia@example.se", first_name="Lang", last_name="Historia"
    )
    _history_seed(member, store.pk, events=5_000, purchases=3_000)
    campaign = cf.campaign(channels=["noop"])
    deliveries_seed(campaign_id=campaign.pk, variant_id=None, member_ids=[member.pk])
    for n in range(3):
        segment = Segment.objects.create(name=f"Lista {n}", kind=Segment.Kind.STATIC)
        SegmentMember.objects.create(segment=segment, member=member)
    expires = timezone.now() + timezone.timedelta(days=14)
    signed_in = SessionStore().encode({"_auth_user_id": str(member.user_id)})
    someone_else = SessionStore().encode({"_auth_user_id": "0"})
    Session.objects.bulk_create(
        [
            Session(session_key=f"params{n:026d}", session_data=signed_in, expire_date=expires)
            for n in range(70_000)
        ]
        + [Session(session_key="someone-else", session_data=someone_else, expire_date=expires)]
    )
    events_before = ActivityEvent.objects.filter(member=member).count()
    started = time.monotonic()

    # When the member is erased
    assert member_anonymise(member_id=member.pk)

    # Then they are a tombstone, their history still points at it, and no session is left
    member.refresh_from_db()
    assert member.erased_at is not None
    assert (member.first_name, member.last_name) == ("", "")
    assert Purchase.objects.filter(member=member).count() == 3_000
    assert ActivityEvent.objects.filter(member=member).count() == events_before + 1
    assert Delivery.objects.filter(member=member).count() == 1
    assert not SegmentMember.objects.filter(member=member).exists()
    assert list(Session.objects.values_list("session_key", flat=True)) == ["someone-else"]
    assert time.monotonic() - started < 30
