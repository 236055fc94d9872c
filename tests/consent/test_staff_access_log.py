"""Every staff view of one member's data writes exactly one row to the staff access log
(issue 14, docs/privacy.md, members.staff_access): the desk, the member's record, the staff
points page, a campaign previewed as the member, and every list narrowed to one member's
rows (purchases, vouchers, ledger, timeline, reviews and the rest). A list of several
members writes nothing; the DPO reads it all in one list with words, not codes."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from consent.models import AccessLog
from members.models import Member, Store
from members.roles import DATA_PROTECTION_OFFICER, MARKETER, STORE_STAFF
from tests import factories
from tests.factories import campaigns as campaign_factories
from tests.factories import consent as consent_factories

pytestmark = pytest.mark.django_db

LISTS = [
    "rewards_purchase",
    "rewards_voucher",
    "rewards_ledgerentry",
    "rewards_review",
    "members_activityevent",
    "members_member",
    "consent_consentevent",
]


@pytest.fixture
def member(django_capture_on_commit_callbacks) -> Member:  # type: ignore[no-untyped-def]
    store = factories.store(name="Södermalm")
    return consent_factories.member_with_data_everywhere(store, django_capture_on_commit_callbacks)


def _staff(role: str) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(factories.staff_user(role=role))
    return client


def _one_new_row(before: int, member: Member, view: str) -> None:
    rows = list(AccessLog.objects.order_by("pk").values_list("member_id", "view")[before:])
    assert rows == [(member.pk, view)]


@pytest.mark.parametrize(
    ("url_name", "view"),
    [
        ("desk:member", "desk"),
        ("admin:members_member_change", "view"),
        ("admin:rewards_member_points", "points_page"),
    ],
)
def test_each_page_of_one_member_writes_one_row(member: Member, url_name: str, view: str) -> None:
    client = _staff(STORE_STAFF)
    arg = member.pk
    before = AccessLog.objects.count()
    assert client.get(reverse(url_name, args=[arg])).status_code == 200
    _one_new_row(before, member, view)


@pytest.mark.parametrize("changelist", LISTS)
def test_a_list_narrowed_to_one_member_writes_one_row(member: Member, changelist: str) -> None:
    # store staff find one member by searching; the DPO reads consent; the moderation queue
    # (every member's reviews) is narrowed by the member filter
    role = DATA_PROTECTION_OFFICER if changelist.startswith("consent_") else STORE_STAFF
    client = _staff(role)
    url = reverse(f"admin:{changelist}_changelist")
    before = AccessLog.objects.count()
    query = {"q": member.membership_number}
    if changelist == "rewards_review":
        query = {"member__id__exact": str(member.pk), "status": "all"}
    response = client.get(url, query)
    assert response.status_code == 200
    app, model = changelist.split("_", 1)
    _one_new_row(before, member, f"list:{app}.{model}")


def test_a_list_of_several_members_writes_nothing(member: Member) -> None:
    other = factories.member_with_user(first_name="Olle", last_name="Berg")
    from tests.factories import rewards as rf

    rf.purchase(store=Store.objects.get(name="Södermalm"), member=other)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(factories.staff_user(superuser=True))
    before = AccessLog.objects.count()
    assert client.get(reverse("admin:rewards_purchase_changelist")).status_code == 200
    assert AccessLog.objects.count() == before


def test_a_campaign_previewed_as_the_member_writes_one_row(member: Member) -> None:
    campaign = campaign_factories.campaign(name="Höstkampanj")
    client = _staff(MARKETER)
    before = AccessLog.objects.count()
    response = client.get(
        reverse("admin:campaigns_campaign_preview", args=[campaign.pk]),
        {"member": member.membership_number},
    )
    assert response.status_code == 200
    _one_new_row(before, member, "campaign_preview")


def test_a_refused_view_writes_nothing(member: Member) -> None:
    client = _staff(MARKETER)
    before = AccessLog.objects.count()
    assert client.get(reverse("desk:member", args=[member.pk])).status_code == 403
    assert client.get(reverse("admin:rewards_member_points", args=[member.pk])).status_code == 403
    assert AccessLog.objects.count() == before


def test_the_dpo_reads_every_access_in_words_filtered_by_staff_member(member: Member) -> None:
    staff = factories.staff_user(role=STORE_STAFF, email="kassa@example.se")
    desk = Client(HTTP_ACCEPT_LANGUAGE="en")
    desk.force_login(staff)
    desk.get(reverse("desk:member", args=[member.pk]))
    desk.get(reverse("admin:rewards_purchase_changelist"), {"q": member.membership_number})
    dpo = _staff(DATA_PROTECTION_OFFICER)
    page = dpo.get(
        reverse("admin:consent_accesslog_changelist"), {"staff__id__exact": str(staff.pk)}
    ).content.decode()
    assert "Opened the member at the staff desk" in page
    assert "Listed the member&#x27;s purchases" in page or "Listed the member's purchases" in page
    assert not re.search(r">\s*list:rewards\.purchase\s*<", page)
    # reading the log is not itself logged as a view of the member
    assert AccessLog.objects.filter(staff__email="kassa@example.se").count() == 2
