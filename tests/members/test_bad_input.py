"""Bad input gets a clear 400 with a stable code and changes nothing; never a 500.

(Issue "Safe from the outside", finding 7: deep JSON, NUL characters in a path, a JSON
string or a form field, and unmatched API paths answering HTML.)
"""

from __future__ import annotations

import json

import pytest

from members.models import Member
from rewards.models import Purchase

pytestmark = pytest.mark.django_db


def _deep(levels: int) -> str:
    return '{"membership_number": ' + "[" * levels + "]" * levels + "}"


@pytest.mark.parametrize("levels", [20, 1000, 5000])
def test_deeply_nested_json_is_refused_with_a_code(till, levels: int) -> None:
    client, _key = till
    answer = client.post(
        "/api/v1/members/identify/", _deep(levels), content_type="application/json"
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "too_deeply_nested"


def test_ordinary_nesting_is_still_accepted(till, member) -> None:
    client, _key = till
    body = {"membership_number": member.membership_number}
    answer = client.post(
        "/api/v1/members/identify/", json.dumps(body), content_type="application/json"
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"receipt_id": "K1\u00001", "total_ore": 100, "lines": []},
        {"receipt_id": "K1-1", "total_ore": 100, "lines": [{"sku": "A\u0000", "quantity": 1}]},
        {"rec\u0000eipt_id": "K1-1"},
    ],
)
def test_nul_in_a_json_body_is_refused_and_writes_nothing(till, body) -> None:
    client, _key = till
    answer = client.post("/api/v1/purchases/", json.dumps(body), content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "nul_character"
    assert not Purchase.objects.exists()


def test_nul_in_an_api_path_is_a_json_400(till) -> None:
    client, _key = till
    answer = client.post("/api/v1/purchases/%00/returns/", "{}", content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "nul_character"


def test_nul_in_a_query_string_is_a_400(client) -> None:
    assert client.get("/offline/?q=%00").status_code == 400


def test_nul_in_a_member_form_is_refused_and_changes_nothing(client, member) -> None:
    client.force_login(member.user)
    answer = client.post("/mina-sidor/profil/", {"first_name": "An\x00na", "last_name": "Svensson"})
    assert answer.status_code == 400
    assert "NUL" in answer.content.decode()
    assert Member.objects.get(pk=member.pk).first_name == "Anna"


@pytest.mark.parametrize("path", ["/api/v1/nothing-here/", "/api/v1/purchases/1/nope/"])
def test_unmatched_api_paths_answer_json(client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer["Content-Type"].startswith("application/json")
    assert answer.json()["error"]["code"] == "not_found"


def test_a_missing_slash_is_named(client) -> None:
    answer = client.post("/api/v1/purchases", "{}", content_type="application/json")
    assert answer.status_code == 404
    assert "/api/v1/purchases/" in answer.json()["error"]["message"]
