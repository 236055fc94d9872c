"""Queries over more values than PostgreSQL takes parameters (65,535 per statement once they
are bound on the server): ``__in`` lists, ``in_bulk``, ``bulk_create``, ``bulk_update`` and
the delete collector, with server-side binding on (production's default) and off."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.db.models.functions import Now
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign, Delivery
from members.models import ActivityEvent, Member
from tests.database.conftest import bind_on_server, deliveries_seed, members_seed
from tests.factories import campaigns as cf

LIMIT = 65_535


def test_filter_pk_in_70000_ids(binding):
    # Given 70,000 members
    ids = members_seed(70_000)

    # When they are filtered by a list of their ids (and one that does not exist)
    with CaptureQueriesContext(connection) as queries:
        count = Member.objects.filter(pk__in=[*ids, 0]).count()
        excluded = Member.objects.exclude(pk__in=ids[:69_990]).count()
        numbers = list(
            Member.objects.filter(pk__in=ids).order_by("pk").values_list("pk", flat=True)
        )

    # Then each is one statement with one array parameter, and finds them all
    assert (count, excluded, numbers) == (70_000, 10, ids)
    assert len(queries) == 3
    assert all("= ANY(" in query["sql"] for query in queries)


def test_filter_text_in_70000_values(binding):
    ids = members_seed(70_000, prefix="T")
    numbers = [f"T{i:09d}" for i in range(1, 70_001)]

    found = Member.objects.filter(membership_number__in=numbers).values_list("pk", flat=True)

    assert sorted(found) == ids


def test_in_bulk_70000_ids(binding):
    ids = members_seed(70_000)

    members = Member.objects.in_bulk(ids)
    by_number = Member.objects.in_bulk(
        [f"P{i:09d}" for i in range(1, 70_001)], field_name="membership_number"
    )

    assert sorted(members) == ids
    assert len(by_number) == 70_000


def test_bulk_create_over_70000_parameters(binding):
    # Given events whose time is an expression: Django then sends one parameter per value
    # (VALUES rows) instead of one array per column (UNNEST)
    [member_id] = members_seed(1)
    events = [
        ActivityEvent(member_id=member_id, kind="params_test", data={"n": n}, created_at=Now())
        for n in range(15_000)
    ]
    fields = [f for f in ActivityEvent._meta.concrete_fields if not f.primary_key]
    assert len(events) * (len(fields) - 1) > LIMIT  # created_at is the expression

    # When they are created in bulk (no batch size given)
    with CaptureQueriesContext(connection) as queries:
        created = ActivityEvent.objects.bulk_create(events)

    # Then in as few statements as the limit allows, each within it
    assert len(created) == 15_000
    assert all(event.pk for event in created)
    assert ActivityEvent.objects.filter(kind="params_test").count() == 15_000
    inserts = [q for q in queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 2


def test_bulk_create_70000_rows_as_arrays(binding):
    [member_id] = members_seed(1)
    events = [ActivityEvent(member_id=member_id, kind="params_test") for _n in range(70_000)]

    ActivityEvent.objects.bulk_create(events, batch_size=70_000)

    assert ActivityEvent.objects.filter(kind="params_test").count() == 70_000


def test_bulk_update_over_70000_parameters(binding):
    # Given 11,000 members whose three fields change: per member and field a
    # "WHEN id = %s THEN %s", 66,000 parameters (Django counts five per member, not six)
    ids = members_seed(11_000)
    members = list(Member.objects.filter(pk__in=ids))
    for member in members:
        member.first_name = f"Ny{member.pk}"
        member.last_name = "Efternamn"
        member.phone = f"+4670{member.pk:07d}"

    # When they are updated in bulk (no batch size given)
    with CaptureQueriesContext(connection) as queries:
        updated = Member.objects.bulk_update(members, ["first_name", "last_name", "phone"])

    # Then every row changed, in two statements
    assert updated == 11_000
    assert len([q for q in queries if q["sql"].startswith("UPDATE")]) == 2
    assert Member.objects.filter(pk__in=ids, last_name="Efternamn").count() == 11_000
    assert Member.objects.get(pk=ids[-1]).first_name == f"Ny{ids[-1]}"


@pytest.mark.django_db
def test_delete_100000_deliveries_through_the_collector():
    # Given a campaign with 100,000 deliveries (as bench/fanout.py's baseline leaves them);
    # offers and inbox messages protect a delivery, so Django collects the rows first and
    # asks for those of the 100,000
    assert bind_on_server()
    campaign = cf.campaign(channels=["noop"])
    ids = members_seed(100_000)
    deliveries_seed(campaign_id=campaign.pk, variant_id=None, member_ids=ids)

    # When they are deleted
    started = time.monotonic()
    deleted, by_model = Delivery.objects.filter(campaign=campaign).delete()

    # Then all of them
    assert (deleted, by_model) == (100_000, {"campaigns.Delivery": 100_000})
    assert not Delivery.objects.filter(campaign=campaign).exists()
    assert Campaign.objects.filter(pk=campaign.pk).exists()
    assert time.monotonic() - started < 30
