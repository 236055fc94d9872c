"""Least privilege in the back-office, held to docs/roles.md ("Back-office pages per role"):
each role's HTTP status on each admin list, and store staff finding members one at a time."""

from __future__ import annotations

import pytest
from django.urls import reverse

from members.roles import ADMINISTRATOR, DATA_PROTECTION_OFFICER, MARKETER, STORE_STAFF
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db

ROLES = [STORE_STAFF, MARKETER, DATA_PROTECTION_OFFICER, ADMINISTRATOR]
# The table in docs/roles.md, "Back-office pages per role": 200 opens, 403 refused.
# Columns: Store staff, Marketer, Data protection officer, Administrator.
MATRIX: dict[str, tuple[int, int, int, int]] = {
    "/admin/members/member/": (200, 403, 200, 200),
    "/admin/members/activityevent/": (200, 403, 200, 200),
    "/admin/members/user/": (403, 403, 200, 200),
    "/admin/auth/group/": (403, 403, 403, 200),
    "/admin/members/store/": (200, 200, 403, 200),
    "/admin/members/apikey/": (403, 403, 403, 200),
    "/admin/members/duplicatecandidate/": (403, 403, 200, 200),
    "/admin/rewards/pointbalance/": (200, 403, 200, 200),
    "/admin/rewards/ledgerentry/": (200, 403, 200, 200),
    "/admin/rewards/purchase/": (200, 403, 200, 200),
    "/admin/rewards/voucher/": (200, 403, 200, 200),
    "/admin/rewards/reservation/": (200, 403, 200, 200),
    "/admin/rewards/membertier/": (200, 403, 200, 200),
    "/admin/rewards/review/": (200, 403, 200, 200),
    "/admin/rewards/reward/": (200, 200, 200, 200),
    "/admin/rewards/earningrule/": (200, 200, 200, 200),
    "/admin/campaigns/segment/": (403, 200, 200, 200),
    "/admin/campaigns/campaign/": (403, 200, 200, 200),
    "/admin/campaigns/offer/": (200, 200, 200, 200),
    "/admin/campaigns/delivery/": (403, 403, 200, 200),
    "/admin/campaigns/memberoffer/": (403, 403, 200, 200),
    "/admin/campaigns/dataqualitysnapshot/": (403, 200, 200, 200),
    "/admin/consent/purpose/": (403, 200, 200, 200),
    "/admin/consent/consentevent/": (403, 403, 200, 200),
    "/admin/consent/privacyrequest/": (403, 403, 200, 200),
    "/admin/consent/accesslog/": (403, 403, 200, 200),
    "member-points": (200, 403, 200, 200),
}


@pytest.fixture
def someone(store):
    member = factories.member_with_user(email="eva@example.se", first_name="Eva")
    rf.purchase(store=store, member=member)
    return member


@pytest.mark.parametrize("url", list(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(client, someone, role, url):
    client.force_login(factories.staff_user(role=role))
    if url == "member-points":
        url = reverse("admin:rewards_member_points", args=[someone.pk])

    response = client.get(url)

    assert response.status_code == MATRIX.get(url, MATRIX["member-points"])[ROLES.index(role)]


def test_marketer_cannot_open_a_member_or_their_ledger(client, someone):
    client.force_login(factories.staff_user(role=MARKETER))

    record = client.get(reverse("admin:members_member_change", args=[someone.pk]))
    points = client.get(reverse("admin:rewards_member_points", args=[someone.pk]))

    assert record.status_code == 403
    assert points.status_code == 403


# --- store staff: one member at a time ---------------------------------------------------------


@pytest.fixture
def crowd(store):
    members = [
        factories.member_with_user(email=f"kund{n}@example.se", last_name=f"Kund{n}")
        for n in range(12)
    ]
    for member in members:
        rf.purchase(store=store, member=member)
        rf.earned(member, 10)
    return members


@pytest.fixture
def store_staff(client):
    client.force_login(factories.staff_user(role=STORE_STAFF))
    return client


def _rows(response) -> list:
    return list(response.context["cl"].result_list) if response.status_code == 200 else []


LISTS = [
    "/admin/members/member/",
    "/admin/members/activityevent/",
    "/admin/rewards/pointbalance/",
    "/admin/rewards/ledgerentry/",
    "/admin/rewards/purchase/",
    "/admin/rewards/voucher/",
]


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize(
    "query",
    [
        {},
        {"_facets": "True"},
        {"q": "@"},
        {"q": "@", "p": "19"},
        {"q": "example.se"},
        {"o": "1"},
        {"all": ""},
        {"created_at__year": "2026"},
        {"purchased_at__year": "2026"},
        {"join_channel": "web"},
    ],
)
def test_store_staff_cannot_browse_lists_of_members(store_staff, crowd, url, query):
    response = store_staff.get(url, query)

    # Then no list of members: an empty list, or the "bad lookup" redirect of an empty one
    assert response.status_code in (200, 302)
    assert _rows(response) == []


@pytest.mark.parametrize("url", [u for u in LISTS if u != "/admin/rewards/voucher/"])
def test_store_staff_find_one_member_by_search(store_staff, crowd, url):
    eva = crowd[3]

    # The member list finds them by email too; every list by membership number
    searches = [eva.membership_number]
    if url == "/admin/members/member/":
        searches += [eva.user.email, f"Anna {eva.last_name}"]
    for term in searches:
        rows = _rows(store_staff.get(url, {"q": term}))
        assert rows, (url, term)
        assert {getattr(r, "member_id", r.pk) for r in rows} == {eva.pk}


def test_store_staff_search_says_when_too_many_match(store_staff, crowd):
    response = store_staff.get("/admin/members/member/", {"q": "example.se"}, follow=True)

    assert _rows(response) == []
    assert "Fler än 10 medlemmar matchar" in response.content.decode()


def test_data_protection_officer_may_browse(client, crowd):
    client.force_login(factories.staff_user(role=DATA_PROTECTION_OFFICER))

    response = client.get("/admin/members/member/")

    assert len(_rows(response)) == len(crowd)
