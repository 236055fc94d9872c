"""A phone number several members share (a family) identifies none of them: the API answers
409 ``ambiguous_member`` with their membership numbers, so the till can ask which one
(issue 15; docs/integration-guide.md "Naming the member")."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from members.errors import AmbiguousMemberError
from members.selectors import AMBIGUOUS_CANDIDATES, member_identify
from members.services import member_create
from rewards.models import Purchase
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db
IDENTIFY = "/api/v1/members/identify/"


@pytest.fixture
def family():
    """Two members on one phone (one joined at a till, one online) and a neighbour."""
    anna = factories.member_with_user(
        email="anna@example.se", first_name="Anna", last_name="Berg", phone="070-123 45 67"
    )
    olle = member_create(first_name="Olle", last_name="Berg", phone="0701234567")
    other = member_create(first_name="Per", last_name="Ek", phone="0709876543")
    return anna, olle, other


def test_identify_by_a_shared_phone_is_409_with_the_membership_numbers_only(till, family):
    anna, olle, _other = family
    client, _key = till

    response = client.post(IDENTIFY, {"phone": "+46 70 123 45 67"}, format="json")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "ambiguous_member"
    assert error["details"] == {
        "membership_numbers": sorted([anna.membership_number, olle.membership_number])
    }
    # Nothing else about the two: no names, email or other data.
    text = response.content.decode()
    for secret in ("Anna", "Olle", "Berg", "anna@example.se", "+46701234567"):
        assert secret not in text
    assert set(response.json()) == {"error"}
    assert set(error) == {"code", "message", "details"}


def test_each_number_then_identifies_its_member(till, family):
    _anna, _olle, _other = family
    client, _key = till
    numbers = client.post(IDENTIFY, {"phone": "0701234567"}, format="json").json()["error"][
        "details"
    ]["membership_numbers"]

    names = {
        client.post(IDENTIFY, {"membership_number": n}, format="json").json()["first_name"]
        for n in numbers
    }

    assert names == {"Anna", "Olle"}


def test_a_phone_of_one_member_still_identifies_and_an_unknown_one_is_404(till, family):
    _anna, _olle, other = family
    client, _key = till

    one = client.post(IDENTIFY, {"phone": "070-987 65 43"}, format="json")
    nobody = client.post(IDENTIFY, {"phone": "0705555555"}, format="json")

    assert one.status_code == 200
    assert one.json()["membership_number"] == other.membership_number
    assert nobody.status_code == 404
    assert nobody.json()["error"]["code"] == "unknown_member"


def test_an_erased_member_does_not_make_a_phone_ambiguous(family):
    anna, olle, _other = family
    from django.utils import timezone

    from members.models import Member

    Member.objects.filter(pk=olle.pk).update(erased_at=timezone.now())

    assert member_identify(phone="0701234567") == anna


def test_the_list_is_capped(db):
    for n in range(AMBIGUOUS_CANDIDATES + 2):
        member_create(first_name=f"Barn{n}", last_name="Ek", phone="0701112233")

    with pytest.raises(AmbiguousMemberError) as raised:
        member_identify(phone="0701112233")

    numbers = raised.value.details["membership_numbers"]
    assert isinstance(numbers, list)
    assert len(numbers) == AMBIGUOUS_CANDIDATES
    assert numbers == sorted(numbers)


def test_a_purchase_naming_the_member_by_a_shared_phone_is_409_and_records_nothing(till, family):
    rf.base_rule()
    client, _key = till
    body = {
        "receipt_id": "R-SHARED-1",
        "member": {"phone": "070-123 45 67"},
        "total_ore": 10000,
        "lines": [{"sku": "SOCK", "quantity": 1, "unit_price_ore": 10000}],
    }

    response = client.post("/api/v1/purchases/", body, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "ambiguous_member"
    assert len(response.json()["error"]["details"]["membership_numbers"]) == 2
    assert not Purchase.objects.exists()


def test_the_schema_documents_the_409(db):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    identify = schema["paths"]["/api/v1/members/identify/"]["post"]["responses"]
    purchases = schema["paths"]["/api/v1/purchases/"]["post"]["responses"]

    assert "ambiguous_member" in identify["409"]["description"]
    assert "membership_numbers" in identify["409"]["description"]
    assert "ambiguous_member" in purchases["409"]["description"]


def test_member_session_without_key_cannot_probe_phones(member):
    client = APIClient()
    client.force_login(member.user)
    assert client.post(IDENTIFY, {"phone": "0701234567"}, format="json").status_code == 403
