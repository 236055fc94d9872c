"""The data-quality page (issue 15, docs/data-quality.md): each count counts exactly what it
says, the lists behind the counts, the nightly snapshot and its trend, who may open it, and
how many queries it takes."""

from __future__ import annotations

import datetime
import re
import threading
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from campaigns.data_quality.counts import (
    COUNTS,
    data_quality_counts,
    data_quality_members,
    data_quality_purchases,
    email_is_valid,
)
from campaigns.data_quality.snapshots import KEEP_DAYS, data_quality_snapshot_take
from campaigns.models import DataQualitySnapshot, Delivery
from consent.labels import access_view_label
from consent.models import AccessLog
from members.models import ActivityEvent, DuplicateCandidate, Member, User
from members.roles import ADMINISTRATOR, DATA_PROTECTION_OFFICER, MARKETER, STORE_STAFF
from members.services import member_create
from rewards.models import Category, Product
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consent_factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db

PAGE = "/admin/campaigns/dataqualitysnapshot/"
NOW = datetime.datetime(2026, 12, 5, 10, 0, tzinfo=datetime.UTC)


def list_url(code: str) -> str:
    return reverse("admin:campaigns_dataqualitysnapshot_list", args=[code])


def clean(store: Any, **fields: Any) -> Member:
    """A member with every field segments and messages use, a valid email and mobile, consent
    to email offers, and a login today: counted nowhere."""
    fields.setdefault("phone", "070-123 45 67")
    fields.setdefault("birth_date", datetime.date(1990, 5, 17))
    fields.setdefault("postcode", "114 55")
    fields.setdefault("home_store", store)
    member = factories.member_with_user(**fields)
    consent_factories.granted(member, "marketing_email")
    User.objects.filter(member=member).update(last_login=timezone.now())
    return member


def member_without_login(store: Any, **fields: Any) -> Member:
    member = member_create(
        first_name="Till",
        last_name="Medlem",
        phone=fields.pop("phone", "0701112233"),
        birth_date=datetime.date(1985, 1, 2),
        postcode="411 01",
        home_store=store,
        join_channel=Member.JoinChannel.STORE,
        source="store",
    )
    consent_factories.granted(member, "marketing_sms")
    return member


def email_delivery(member: Member, campaign: Any, status: str, reason: str = "", **times: Any):
    return Delivery.objects.create(
        campaign=campaign,
        member=member,
        channel="email",
        occurrence=f"o{Delivery.objects.count()}",
        status=status,
        reason=reason,
        **times,
    )


@pytest.fixture
def world(store: Any) -> dict[str, Member]:
    """A clean member, and one member per problem (each clean in every other respect)."""
    now = timezone.now()
    Product.objects.create(
        sku="CAT-1", name="Kategoriserad", category=Category.objects.create(code="skor")
    )
    m: dict[str, Member] = {"clean": clean(store)}
    m["no_email"] = member_without_login(store)
    m["no_phone"] = clean(store, phone="")
    m["no_birth_date"] = clean(store, birth_date=None)
    m["no_postcode"] = clean(store, postcode="")
    m["no_home_store"] = clean(store, home_store=None)
    m["no_language"] = clean(store)
    Member.objects.filter(pk=m["no_language"].pk).update(preferred_language="")
    m["invalid_email"] = clean(store, email="anna..svensson@example")
    m["bouncing"] = clean(store)
    m["bounced_then_sent"] = clean(store)
    m["failed_not_address"] = clean(store)
    campaign = cf.campaign(channels=["email"])
    email_delivery(m["bouncing"], campaign, "failed", "provider_error", claimed_at=now)
    email_delivery(
        m["bounced_then_sent"],
        campaign,
        "failed",
        "provider_error",
        claimed_at=now - datetime.timedelta(days=3),
    )
    email_delivery(m["bounced_then_sent"], campaign, "sent", sent_at=now)
    email_delivery(m["failed_not_address"], campaign, "failed", "no_variant", claimed_at=now)
    m["landline"] = clean(store)
    m["junk_phone"] = clean(store)
    m["foreign_mobile"] = clean(store)
    Member.objects.filter(pk=m["landline"].pk).update(phone="+4681234567")
    Member.objects.filter(pk=m["junk_phone"].pk).update(phone="12-34")
    Member.objects.filter(pk=m["foreign_mobile"].pk).update(phone="+447911123456")
    m["no_consent"] = factories.member_with_user(
        phone="0702223344",
        birth_date=datetime.date(1970, 1, 1),
        postcode="222 22",
        home_store=store,
    )
    m["withdrawn"] = clean(store)
    consent_factories.withdrawn(m["withdrawn"], "marketing_email")
    m["blocked"] = clean(store)
    User.objects.filter(member=m["blocked"]).update(is_active=False)
    m["inactive"] = clean(store)
    m["inactive_but_acted"] = clean(store)
    long_ago = now - datetime.timedelta(days=365 * 4)
    for key in ("inactive", "inactive_but_acted"):
        member = m[key]
        Member.objects.filter(pk=member.pk).update(joined_at=long_ago)
        User.objects.filter(member=member).update(last_login=long_ago)
        ActivityEvent.objects.filter(member=member).update(created_at=long_ago)
    ActivityEvent.objects.create(
        member=m["inactive_but_acted"], kind="profile_changed", source="web", created_at=now
    )
    # Not counted: erased and merged members, whatever their fields.
    erased = clean(store, phone="")
    Member.objects.filter(pk=erased.pk).update(erased_at=now, birth_date=None)
    merged = clean(store, postcode="")
    Member.objects.filter(pk=merged.pk).update(merged_into=m["clean"], merged_at=now)
    # One open pair (counted), one set aside, one open with an erased member (not counted).
    a, b = sorted([m["clean"].pk, m["no_phone"].pk])
    DuplicateCandidate.objects.create(member_a_id=a, member_b_id=b, score=0.9, status="open")
    a, b = sorted([m["clean"].pk, m["no_postcode"].pk])
    DuplicateCandidate.objects.create(member_a_id=a, member_b_id=b, score=0.8, status="dismissed")
    a, b = sorted([m["no_birth_date"].pk, erased.pk])  # open, but one of them is gone
    DuplicateCandidate.objects.create(member_a_id=a, member_b_id=b, score=0.7, status="open")
    # Products: one without a category (counted), the purchases' products have one.
    Product.objects.create(sku="NOCAT-1", name="Okategoriserad")
    window = datetime.timedelta(days=settings.REWARDS_CLAIM_DAYS)
    line = [rf.line(sku="CAT-1", category="skor")]
    rf.purchase(
        store=store,
        member=None,
        lines=line,
        receipt_id="OLD-ANON",
        purchased_at=now - window - datetime.timedelta(days=1),
    )
    rf.purchase(
        store=store,
        member=None,
        lines=line,
        receipt_id="NEW-ANON",
        purchased_at=now - window + datetime.timedelta(days=1),
    )
    rf.purchase(
        store=store,
        member=m["clean"],
        lines=line,
        receipt_id="OLD-MINE",
        purchased_at=now - window - datetime.timedelta(days=2),
    )
    return m


EXPECTED = {
    "members_missing_email": {"no_email"},
    "members_missing_phone": {"no_phone"},
    "members_missing_birth_date": {"no_birth_date"},
    "members_missing_postcode": {"no_postcode"},
    "members_missing_home_store": {"no_home_store"},
    "members_missing_language": {"no_language"},
    "emails_invalid_or_bouncing": {"invalid_email", "bouncing"},
    "phones_invalid": {"landline", "junk_phone"},
    "members_without_consent": {"no_consent", "withdrawn", "blocked"},
    "members_inactive_past_retention": {"inactive"},
}


def test_each_count_counts_exactly_what_it_says(world):
    # Given one member per problem, a clean member, and tombstones that are never counted
    # When the counts are taken
    counts = data_quality_counts()

    # Then each member count holds exactly its members, and the others one each
    assert counts == {
        **{code: len(keys) for code, keys in EXPECTED.items()},
        "duplicates_waiting": 1,
        "products_without_category": 1,
        "purchases_unclaimed": 1,
    }
    assert list(counts) == [kind.code for kind in COUNTS]


@pytest.mark.parametrize("code", list(EXPECTED))
def test_each_member_list_shows_exactly_the_members_counted(world, code):
    # When the list behind a member count is read
    page = data_quality_members(code=code)

    # Then it holds exactly the members with that problem
    expected = {world[key].membership_number for key in EXPECTED[code]}
    assert {row.membership_number for row in page.object_list} == expected


@translation.override("en")
def test_member_lists_name_the_missing_fields_and_hide_values_unless_asked(world):
    rows = {r.member_id: r for r in data_quality_members(code="members_missing_email").object_list}
    assert rows[world["no_email"].pk].problems == ["email address"]

    emails = data_quality_members(code="emails_invalid_or_bouncing").object_list
    assert {r.value for r in emails} == {""}
    shown = data_quality_members(code="emails_invalid_or_bouncing", with_values=True).object_list
    by_id = {r.member_id: r for r in shown}
    assert by_id[world["invalid_email"].pk].value == "anna..svensson@example"
    assert by_id[world["invalid_email"].pk].problems == ["not a valid email address"]
    assert by_id[world["bouncing"].pk].problems == ["the last email failed"]


def test_purchase_list_shows_only_anonymous_purchases_past_the_claim_window(world):
    page = data_quality_purchases()
    assert [p.receipt_id for p in page.object_list] == ["OLD-ANON"]


def test_counts_take_a_fixed_number_of_queries(world, django_assert_num_queries):
    with django_assert_num_queries(6):
        data_quality_counts()


@pytest.mark.parametrize(
    "address",
    [
        "anna@example.se",
        "Anna.Svensson+klubb@Mail.Example.COM",
        "a_b-c@sub-domain.example.se",
        "anna..svensson@example.se",
        ".anna@example.se",
        "anna@example",
        "anna@-example.se",
        "anna@example.s",
        "anna@exämple.se",
        "anna svensson@example.se",
        "åsa@example.se",
        "anna@example.123",
    ],
)
def test_emails_are_judged_as_django_judges_them(store, address):
    # Given a member with this login address (written as an old import could have)
    member = clean(store)
    User.objects.filter(member=member).update(email=address)

    # Then the count agrees with Django's email validator, whichever path it took
    counted = data_quality_counts()["emails_invalid_or_bouncing"]
    assert counted == (0 if email_is_valid(address) else 1)


# --- the page ---------------------------------------------------------------------------------


def staff(role: str) -> Client:
    client = Client()
    client.force_login(factories.staff_user(role=role))
    return client


@pytest.mark.parametrize(
    ("role", "status"),
    [(STORE_STAFF, 403), (MARKETER, 200), (DATA_PROTECTION_OFFICER, 200), (ADMINISTRATOR, 200)],
)
def test_who_may_open_the_page_and_its_lists(world, role, status):
    client = staff(role)
    assert client.get(PAGE).status_code == status
    assert client.get(list_url("members_missing_email")).status_code == status
    assert client.get(list_url("purchases_unclaimed")).status_code == status


def test_the_page_is_not_for_members_or_strangers(world, client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_page_shows_each_count_linked_to_its_list(world):
    response = staff(DATA_PROTECTION_OFFICER).get(PAGE, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()

    assert response.status_code == 200
    assert "<caption>" in html
    assert 'scope="col"' in html
    assert 'scope="row"' in html
    for code in EXPECTED:
        assert f'href="{list_url(code)}"' in html
    assert f'href="{list_url("purchases_unclaimed")}"' in html
    assert "/admin/rewards/product/?category__isnull=True" in html
    row = re.search(r'id="dq-phones_invalid".*?</tr>', html, re.S)
    assert row is not None
    assert re.search(r'<td class="kk-amount">2</td>', row.group(0))


def test_the_page_is_linked_from_the_admin_index_for_its_roles(world):
    for role, linked in ((MARKETER, True), (DATA_PROTECTION_OFFICER, True), (STORE_STAFF, False)):
        html = staff(role).get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert (f'href="{PAGE}"' in html) is linked, role
        assert ("Data quality" in html) is linked, role


def test_the_page_reads_in_swedish(world):
    html = staff(MARKETER).get(PAGE, HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    assert "Datakvalitet" in html
    assert "Medlemmar utan e-postadress" in html
    assert "Members without an email address" not in html


def test_a_marketer_sees_membership_numbers_never_contact_details(world):
    client = staff(MARKETER)
    emails = client.get(list_url("emails_invalid_or_bouncing")).content.decode()
    phones = client.get(list_url("phones_invalid")).content.decode()

    assert world["invalid_email"].membership_number in emails
    assert "anna..svensson@example" not in emails
    assert world["junk_phone"].membership_number in phones
    assert "12-34" not in phones
    assert "/admin/members/member/" not in emails  # no link to a record they cannot open


def test_the_data_protection_officer_sees_the_value_at_fault_and_opens_the_record(world):
    client = staff(DATA_PROTECTION_OFFICER)
    html = client.get(list_url("emails_invalid_or_bouncing")).content.decode()

    assert "anna..svensson@example" in html
    assert reverse("admin:members_member_change", args=[world["invalid_email"].pk]) in html


def test_every_member_listed_is_in_the_access_log(world):
    # Given a marketer who opens the list of members without consent
    client = staff(MARKETER)
    client.get(list_url("members_without_consent"))

    # Then each member shown has one access-log row, in words on the log
    logged = AccessLog.objects.filter(view="list:campaigns.dataqualitysnapshot")
    assert sorted(logged.values_list("member_id", flat=True)) == sorted(
        world[key].pk for key in EXPECTED["members_without_consent"]
    )
    with translation.override("en"):
        assert access_view_label(logged[0].view) == "Listed the member's data quality"
    # a purchase list names no member and logs nothing
    client.get(list_url("purchases_unclaimed"))
    assert logged.count() == 3


def test_a_refused_list_logs_nothing(world):
    staff(STORE_STAFF).get(list_url("members_without_consent"))
    assert not AccessLog.objects.exists()


def test_lists_are_paginated(store):
    for n in range(55):
        member_without_login(store, phone=f"07011{n:05d}")
    client = staff(DATA_PROTECTION_OFFICER)
    first = client.get(list_url("members_missing_email"), HTTP_ACCEPT_LANGUAGE="en")
    second = client.get(list_url("members_missing_email") + "?page=2", HTTP_ACCEPT_LANGUAGE="en")
    assert len(first.context["page"].object_list) == 50
    assert len(second.context["page"].object_list) == 5
    assert "Page 2 of 2" in second.content.decode()


def test_unknown_or_unlisted_codes_are_404(world):
    client = staff(ADMINISTRATOR)
    assert client.get(list_url("no_such_count")).status_code == 404
    assert client.get(list_url("duplicates_waiting")).status_code == 404


def test_the_page_and_a_list_take_a_bounded_number_of_queries(
    world, store, django_assert_max_num_queries
):
    # Given ten times more members with problems than the world has
    for n in range(30):
        member_without_login(store, phone=f"07022{n:05d}")
    client = staff(DATA_PROTECTION_OFFICER)
    client.get(PAGE)  # the session and permission caches warm

    # Then the page and a full list page stay within a fixed number of queries
    with django_assert_max_num_queries(16):
        assert client.get(PAGE).status_code == 200
    # a list page: its own queries, plus one access-log row per member shown (50 at most)
    with django_assert_max_num_queries(12 + 31):
        assert client.get(list_url("members_missing_email")).status_code == 200


# --- snapshots and the trend ------------------------------------------------------------------


def test_snapshot_is_one_row_per_day_and_a_second_run_replaces_it(world):
    first = data_quality_snapshot_take(now=NOW)
    Product.objects.create(sku="NOCAT-2")
    second = data_quality_snapshot_take(now=NOW + datetime.timedelta(hours=3))

    assert DataQualitySnapshot.objects.count() == 1
    assert first.taken_on == second.taken_on == datetime.date(2026, 12, 5)
    assert second.counts["products_without_category"] == 2
    assert second.counts == data_quality_counts(now=NOW)


def test_snapshot_keeps_90_days(world):
    today = datetime.date(2026, 12, 5)
    for days in (KEEP_DAYS + 5, KEEP_DAYS, KEEP_DAYS - 1, 1):
        DataQualitySnapshot.objects.create(
            taken_on=today - datetime.timedelta(days=days), counts={}
        )

    data_quality_snapshot_take(now=NOW)

    kept = sorted(DataQualitySnapshot.objects.values_list("taken_on", flat=True))
    assert kept == [
        today - datetime.timedelta(days=KEEP_DAYS - 1),
        today - datetime.timedelta(days=1),
        today,
    ]


def test_the_nightly_task_takes_the_snapshot_and_is_scheduled(world):
    from campaigns.tasks import data_quality_snapshot

    data_quality_snapshot()
    data_quality_snapshot()

    assert DataQualitySnapshot.objects.count() == 1
    entry = settings.CELERY_BEAT_SCHEDULE["campaigns-data-quality-snapshot"]
    assert entry["task"] == "campaigns.tasks.data_quality_snapshot"


def test_the_page_shows_the_trend_and_the_values_7_and_30_days_ago(world):
    today = timezone.localdate()
    for days, value in ((30, 17), (7, 9), (3, 4)):
        DataQualitySnapshot.objects.create(
            taken_on=today - datetime.timedelta(days=days),
            counts={"products_without_category": value},
        )

    html = staff(MARKETER).get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    row = re.search(r'id="dq-products_without_category".*?</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="kk-amount">(.*?)</td>', row.group(0), re.S)
    assert [c.strip() for c in cells] == ["1", "9", "17"]
    chart = re.search(r'<svg class="kk-dq-trend" role="img".*?</svg>', row.group(0), re.S)
    assert chart is not None
    assert "<title>Products without a category, day by day over the last 90 days: now 1" in (
        chart.group(0)
    )
    bars = re.findall(r'<rect x="(\d+)" y="(\d+)" width="2" height="(\d+)"', chart.group(0))
    assert len(bars) == KEEP_DAYS
    heights = [int(h) for _x, _y, h in bars]
    # the highest day (17, 30 days ago) is the full bar; days without a snapshot a 1px mark
    assert heights[-31] == max(heights) == 26
    assert heights[-8] == round(9 / 17 * 26)
    assert heights[0] == 1


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_two_snapshots_at_once_make_one_row(store):
    # Given beat delivered the nightly task twice and two workers run it at the same moment
    clean(store)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def take() -> None:
        try:
            barrier.wait()
            data_quality_snapshot_take(now=NOW)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=take) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then both succeed and the day has one row (the upsert, not a read-then-write)
    assert errors == []
    assert list(DataQualitySnapshot.objects.values_list("taken_on", flat=True)) == [NOW.date()]


def test_the_product_link_lists_the_products_without_a_category(world):
    html = staff(MARKETER).get("/admin/rewards/product/?category__isnull=True").content.decode()
    assert "NOCAT-1" in html
    assert ">CAT-1<" not in html
    assert "Kategoriserad" not in html


def test_the_duplicates_count_links_to_the_review_queue_for_those_who_review(world):
    queue = reverse("admin:members_duplicatecandidate_changelist")
    admin_html = staff(ADMINISTRATOR).get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    marketer_html = staff(MARKETER).get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert f'href="{queue}"' in admin_html
    assert f'href="{queue}"' not in marketer_html
    assert "The review queue is for the data protection officer and administrators." in (
        marketer_html
    )
