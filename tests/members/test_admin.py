"""Back-office: find members in any format, filter, see the timeline, edit through services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from members.activity import Kind
from members.models import Member
from members.roles import DATA_PROTECTION_OFFICER, STORE_STAFF
from tests import factories

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/members/member/"


@pytest.fixture
def people(store):
    return {
        "anna": factories.member_with_user(
            email="anna.berg@example.se", first_name="Anna", last_name="Berg", phone="0701234567"
        ),
        "erik": factories.member_with_user(
            email="erik@example.se",
            first_name="Erik",
            last_name="Lind",
            phone="+46739876543",
            home_store=store,
            preferred_language="en",
        ),
    }


@pytest.fixture
def staff_client(client):
    client.force_login(factories.staff_user(role=STORE_STAFF))
    return client


def _numbers(response) -> set[str]:
    return {m.membership_number for m in response.context["cl"].result_list}


@pytest.mark.parametrize(
    ("term", "who"),
    [
        ("070 123 45 67", {"anna"}),
        ("070-1234567", {"anna"}),
        ("+46 70 123 45 67", {"anna"}),
        ("0046701234567", {"anna"}),
        ("073 987 65 43", {"erik"}),
        ("ANNA.BERG@example.se", {"anna"}),
        ("example.se", {"anna", "erik"}),
        ("Anna Berg", {"anna"}),
        ("lind", {"erik"}),
        ("nobody", set()),
    ],
)
def test_member_search_by_phone_in_any_format_email_and_name(staff_client, people, term, who):
    response = staff_client.get(CHANGELIST, {"q": term})

    assert response.status_code == 200
    assert _numbers(response) == {people[name].membership_number for name in who}


def test_member_search_by_membership_number_with_or_without_spaces(staff_client, people):
    anna = people["anna"]
    for term in (anna.membership_number, anna.formatted_membership_number):
        response = staff_client.get(CHANGELIST, {"q": term})
        assert _numbers(response) == {anna.membership_number}


def test_member_list_filters(client, people, store):
    # Filters list members to roles that may browse them (docs/roles.md): the data
    # protection officer here; store staff only ever see the members their search finds.
    client.force_login(factories.staff_user(role=DATA_PROTECTION_OFFICER))
    by_store = client.get(CHANGELIST, {"home_store__id__exact": store.pk})
    by_language = client.get(CHANGELIST, {"preferred_language": "sv"})
    by_channel = client.get(CHANGELIST, {"join_channel": "store"})

    assert _numbers(by_store) == {people["erik"].membership_number}
    assert _numbers(by_language) == {people["anna"].membership_number}
    assert _numbers(by_channel) == set()


def test_member_list_query_count_does_not_grow_with_members(
    staff_client, people, django_assert_max_num_queries
):
    for _ in range(10):
        factories.member_with_user()
    with django_assert_max_num_queries(12):
        response = staff_client.get(CHANGELIST)
    assert response.status_code == 200


def test_store_staff_see_the_member_timeline(staff_client, people):
    anna = people["anna"]
    response = staff_client.get(reverse("admin:members_member_change", args=[anna.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="member-timeline"' in html
    assert f'data-kind="{Kind.JOINED}"' in html


def test_store_staff_edit_goes_through_the_service(staff_client, people):
    anna = people["anna"]
    url = reverse("admin:members_member_change", args=[anna.pk])
    data = {
        "first_name": "Anna",
        "last_name": "Berg-Lind",
        "phone": "070 111 22 33",
        "birth_date": "",
        "preferred_language": "sv",
        "home_store": "",
    }

    response = staff_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    anna.refresh_from_db()
    assert anna.last_name == "Berg-Lind"
    assert anna.phone == "+46701112233"
    event = anna.events.get(kind=Kind.PROFILE_UPDATED)
    assert event.source == "admin"
    assert event.actor is not None


def test_store_staff_edit_rejects_a_landline(staff_client, people):
    anna = people["anna"]
    url = reverse("admin:members_member_change", args=[anna.pk])
    data = {
        "first_name": "Anna",
        "last_name": "Berg",
        "phone": "08-123 456 78",
        "birth_date": "",
        "preferred_language": "sv",
        "home_store": "",
    }

    response = staff_client.post(url, data)

    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    anna.refresh_from_db()
    assert anna.phone == "+46701234567"


def test_store_staff_cannot_delete_members(staff_client, people):
    anna = people["anna"]
    response = staff_client.get(reverse("admin:members_member_delete", args=[anna.pk]))
    assert response.status_code == 403
    response = staff_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [anna.pk]}
    )
    assert Member.objects.filter(pk=anna.pk).exists()


def test_staff_can_add_a_member_at_the_till(client, store):
    client.force_login(factories.staff_user(superuser=True))
    data = {
        "first_name": "Nils",
        "last_name": "Holm",
        "phone": "070-555 66 77",
        "birth_date": "1980-05-01",
        "preferred_language": "sv",
        "home_store": store.pk,
    }

    response = client.post(reverse("admin:members_member_add"), data)

    assert response.status_code == 302
    nils = Member.objects.get(last_name="Holm")
    assert nils.join_channel == Member.JoinChannel.STORE
    assert nils.phone == "+46705556677"
    assert nils.events.get(kind=Kind.JOINED).source == "admin"


@pytest.mark.parametrize(
    "url",
    [
        "/admin/members/user/",
        "/admin/members/store/",
        "/admin/members/apikey/",
        "/admin/members/activityevent/",
    ],
)
def test_admin_lists_render(client, people, url):
    client.force_login(factories.staff_user(superuser=True))
    assert client.get(url).status_code == 200
