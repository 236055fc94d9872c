"""The till and web-shop API: every endpoint's success, error codes, scopes and stores."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from members.api.scopes import SCOPES
from rewards.models import LedgerEntry, Purchase
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


def _client(store, scopes=None) -> APIClient:
    _key, secret = factories.api_key_with_secret(store_obj=store, scopes=scopes or list(SCOPES))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def _purchase_body(member_obj, receipt="R-1", **extra):
    body = {
        "receipt_id": receipt,
        "member": {"membership_number": member_obj.membership_number} if member_obj else None,
        "total_ore": 129800,
        "lines": [
            {
                "sku": "RUN-1",
                "name": "Löparsko",
                "category": "loparskor",
                "quantity": 1,
                "unit_price_ore": 119900,
            },
            {"sku": "SOCK", "quantity": 2, "unit_price_ore": 4950},
        ],
    }
    body.update(extra)
    return body


@pytest.fixture
def rules(db):
    return rf.base_rule()


def test_purchase_post_records_and_replays_identically(till, member, rules):
    client, _key = till
    first = client.post("/api/v1/purchases/", _purchase_body(member), format="json")
    assert first.status_code == 201, first.json()
    body = first.json()
    assert body["points"]["earned"] == 1298
    assert body["points"]["explanation"][0] == {
        "points": 1298,
        "sv": "1 p per krona",
        "en": "1 p per krona",
    }
    assert [line["points"] for line in body["lines"]] == [1199, 99]
    replay = client.post("/api/v1/purchases/", _purchase_body(member), format="json")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert replay.json() == body
    conflict = client.post("/api/v1/purchases/", _purchase_body(member, total_ore=1), format="json")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "duplicate_receipt_conflict"
    assert Purchase.objects.count() == 1


def test_purchase_post_without_member_earns_nothing(till, rules):
    client, _key = till
    response = client.post("/api/v1/purchases/", _purchase_body(None), format="json")
    assert response.status_code == 201
    assert response.json()["points"]["earned"] == 0
    assert not LedgerEntry.objects.exists()


def test_purchase_post_query_count_is_small(till, member, rules):
    client, _key = till
    client.post("/api/v1/purchases/", _purchase_body(member, receipt="warm"), format="json")
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            "/api/v1/purchases/", _purchase_body(member, receipt="R-2"), format="json"
        )
    assert response.status_code == 201
    # key (no touch within the minute), member+tier, products, the member's own multipliers
    # (one statement), purchase + lines + entry + lot + balance (one statement), timeline
    # event (the tier ladder is cached); + savepoint bookkeeping in the test transaction
    assert len(queries) <= 8, [q["sql"][:80] for q in queries]


def test_purchase_out_renders_what_the_output_serializer_documents(store, member, rules):
    # Given a recorded purchase with a member (pending points, explanation) and one without
    from rewards.api.serializers import PurchaseOutSerializer
    from rewards.api.views import purchase_body, purchase_out

    with_member = rf.purchase(store=store, member=member, lines=[rf.line("A", 2, 1950)])
    anonymous = rf.purchase(store=store, member=None, lines=[rf.line("B", 1, 500)])

    # When the hot path renders them, then the bodies equal the serializer's, field for field
    for result in (with_member, anonymous):
        assert purchase_out(result) == PurchaseOutSerializer(purchase_body(result)).data


def test_purchase_post_unknown_member_is_404(till, rules):
    client, _key = till
    body = _purchase_body(None)
    body["member"] = {"membership_number": "1234567890"}
    response = client.post("/api/v1/purchases/", body, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_member"


@pytest.mark.parametrize(
    "change",
    [
        {"receipt_id": ""},
        {"receipt_id": "x" * 65},
        {"total_ore": -1},
        {"total_ore": 1.5},
        {"total_ore": "12,50"},
        {"lines": []},
        {"lines": [{"sku": "A", "quantity": 0, "unit_price_ore": 100}]},
        {"lines": [{"sku": "A", "quantity": 1, "unit_price_ore": 100, "discount_ore": 101}]},
        {"lines": [{"sku": "", "quantity": 1, "unit_price_ore": 100}]},
        {"lines": "nope"},
        {"purchased_at": "2999-01-01T00:00:00Z"},
        {"purchased_at": "yesterday"},
        {"member": {"membership_number": "1", "email": "a@b.se"}},
    ],
)
def test_purchase_post_malformed_is_400(till, member, rules, change):
    client, _key = till
    response = client.post("/api/v1/purchases/", _purchase_body(member, **change), format="json")
    assert response.status_code == 400, response.content
    # Rules the schema cannot state have a code of their own (members.api.errors).
    expected = "invalid_input"
    if "discount_ore" in str(change):
        expected = "discount_exceeds_line"
    if change.get("purchased_at") == "2999-01-01T00:00:00Z":
        expected = "purchased_at_out_of_range"
    assert response.json()["error"]["code"] == expected
    assert not Purchase.objects.exists()


def test_purchase_post_not_json_is_400(till):
    client, _key = till
    response = client.post("/api/v1/purchases/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_purchase_post_other_store_in_body_is_403(till, member, rules):
    client, _key = till
    factories.store(code="goteborg")
    response = client.post(
        "/api/v1/purchases/", _purchase_body(member, store="goteborg"), format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "wrong_store"


@pytest.mark.parametrize(
    ("path", "scope"),
    [
        ("/api/v1/purchases/", "purchases:write"),
        ("/api/v1/purchases/R-1/returns/", "purchases:write"),
        ("/api/v1/points/balance/", "points:read"),
        ("/api/v1/points/redeem/", "points:write"),
        ("/api/v1/points/reservations/", "points:write"),
        ("/api/v1/points/reservations/1/capture/", "points:write"),
        ("/api/v1/points/reservations/1/release/", "points:write"),
        ("/api/v1/checkins/", "checkins:write"),
    ],
)
def test_every_endpoint_needs_its_scope(store, path, scope):
    others = [s for s in SCOPES if s != scope]
    response = _client(store, others).post(path, {}, format="json")
    assert response.status_code == 403
    assert scope in response.json()["error"]["message"]
    assert APIClient().post(path, {}, format="json").status_code == 401


def test_return_post_reverses_and_replays(till, member, rules):
    client, _key = till
    client.post("/api/v1/purchases/", _purchase_body(member), format="json")
    url = "/api/v1/purchases/R-1/returns/"
    body = {"return_id": "RET-1", "lines": [{"line_no": 2, "quantity": 1}]}
    first = client.post(url, body, format="json")
    assert first.status_code == 201, first.json()
    assert first.json()["points_reversed"] == 49
    again = client.post(url, body, format="json")
    assert (again.status_code, again.json()) == (201, first.json())
    assert again["Idempotent-Replayed"] == "true"
    other = client.post(url, {"return_id": "RET-1"}, format="json")
    assert other.json()["error"]["code"] == "duplicate_return_conflict"
    too_many = client.post(
        url, {"return_id": "RET-2", "lines": [{"line_no": 2, "quantity": 2}]}, format="json"
    )
    assert too_many.json()["error"]["code"] == "return_exceeds_purchase"
    bad_line = client.post(
        url, {"return_id": "RET-3", "lines": [{"line_no": 9, "quantity": 1}]}, format="json"
    )
    assert bad_line.json()["error"]["code"] == "unknown_line"
    unknown = client.post("/api/v1/purchases/NOPE/returns/", {"return_id": "X"}, format="json")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_receipt")


def test_return_post_other_stores_purchase_is_unknown(member, rules, store):
    _client(store).post("/api/v1/purchases/", _purchase_body(member), format="json")
    other = _client(factories.store(code="malmo"))
    response = other.post("/api/v1/purchases/R-1/returns/", {"return_id": "X"}, format="json")
    assert response.status_code == 404


def test_redeem_and_balance(till, member):
    client, _key = till
    rf.earned(member, 500)
    ref = {"membership_number": member.membership_number}
    ok = client.post(
        "/api/v1/points/redeem/",
        {"member": ref, "points": 200, "idempotency_key": "k-1"},
        format="json",
    )
    assert ok.status_code == 200, ok.json()
    assert ok.json()["balance"]["available"] == 300
    replay = client.post(
        "/api/v1/points/redeem/",
        {"member": ref, "points": 200, "idempotency_key": "k-1"},
        format="json",
    )
    assert replay.json() == ok.json()
    conflict = client.post(
        "/api/v1/points/redeem/",
        {"member": ref, "points": 201, "idempotency_key": "k-1"},
        format="json",
    )
    assert (conflict.status_code, conflict.json()["error"]["code"]) == (409, "idempotency_conflict")
    short = client.post(
        "/api/v1/points/redeem/",
        {"member": ref, "points": 301, "idempotency_key": "k-2"},
        format="json",
    )
    assert (short.status_code, short.json()["error"]["code"]) == (409, "insufficient_points")
    balance = client.post("/api/v1/points/balance/", {"member": ref}, format="json")
    assert balance.status_code == 200
    assert balance.json()["balance"]["available"] == 300
    assert [e["kind"] for e in balance.json()["entries"]] == ["redeem", "earn"]
    assert balance.json()["entries"][0]["change"] == -200


@pytest.mark.parametrize(
    "body",
    [
        {"points": 0, "idempotency_key": "k"},
        {"points": -1, "idempotency_key": "k"},
        {"points": "ten", "idempotency_key": "k"},
        {"points": 10, "idempotency_key": ""},
        {"points": 10, "idempotency_key": "bad key with spaces"},
        {"points": 10},
    ],
)
def test_redeem_malformed_is_400(till, member, body):
    client, _key = till
    body = {"member": {"membership_number": member.membership_number}, **body}
    response = client.post("/api/v1/points/redeem/", body, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_input")


def test_reserve_capture_release_flow(till, member, store):
    client, _key = till
    rf.earned(member, 1000)
    ref = {"membership_number": member.membership_number}
    r = client.post(
        "/api/v1/points/reservations/",
        {"member": ref, "points": 300, "idempotency_key": "o1-r"},
        format="json",
    )
    assert r.status_code == 201, r.json()
    rid = r.json()["reservation_id"]
    assert r.json()["balance"]["available"] == 700
    cap = client.post(
        f"/api/v1/points/reservations/{rid}/capture/",
        {"points": 250, "idempotency_key": "o1-c"},
        format="json",
    )
    assert cap.status_code == 200, cap.json()
    assert cap.json()["balance"] == {"available": 750, "pending": 0, "reserved": 0, "posted": 750}
    rel = client.post(
        f"/api/v1/points/reservations/{rid}/release/", {"idempotency_key": "o1-x"}, format="json"
    )
    assert (rel.status_code, rel.json()["error"]["code"]) == (409, "reservation_already_resolved")
    r2 = client.post(
        "/api/v1/points/reservations/",
        {"member": ref, "points": 100, "idempotency_key": "o2-r"},
        format="json",
    )
    rid2 = r2.json()["reservation_id"]
    over = client.post(
        f"/api/v1/points/reservations/{rid2}/capture/",
        {"points": 101, "idempotency_key": "o2-c"},
        format="json",
    )
    assert over.json()["error"]["code"] == "capture_exceeds_reservation"
    rel2 = client.post(
        f"/api/v1/points/reservations/{rid2}/release/", {"idempotency_key": "o2-x"}, format="json"
    )
    assert rel2.status_code == 200
    assert rel2.json()["status"] == "released"
    missing = client.post(
        "/api/v1/points/reservations/999999/release/", {"idempotency_key": "z"}, format="json"
    )
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "unknown_reservation")
    big = client.post(
        "/api/v1/points/reservations/",
        {"member": ref, "points": 751, "idempotency_key": "o3"},
        format="json",
    )
    assert big.json()["error"]["code"] == "insufficient_points"


def test_reservation_expired_code(till, member, store):
    import datetime

    import time_machine
    from django.utils import timezone

    client, _key = till
    rf.earned(member, 100)
    ref = {"membership_number": member.membership_number}
    r = client.post(
        "/api/v1/points/reservations/",
        {"member": ref, "points": 50, "idempotency_key": "e1", "timeout_seconds": 10},
        format="json",
    )
    rid = r.json()["reservation_id"]
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=30)):
        late = client.post(
            f"/api/v1/points/reservations/{rid}/capture/",
            {"points": 50, "idempotency_key": "e2"},
            format="json",
        )
    assert (late.status_code, late.json()["error"]["code"]) == (409, "reservation_expired")


def test_capture_with_another_stores_key_is_404_like_an_unknown_id(till, member):
    client, _key = till
    rf.earned(member, 100)
    ref = {"membership_number": member.membership_number}
    rid = client.post(
        "/api/v1/points/reservations/",
        {"member": ref, "points": 50, "idempotency_key": "a"},
        format="json",
    ).json()["reservation_id"]
    other = _client(factories.store(code="uppsala"))
    response = other.post(
        f"/api/v1/points/reservations/{rid}/capture/",
        {"points": 50, "idempotency_key": "b"},
        format="json",
    )
    unknown = other.post(
        "/api/v1/points/reservations/987654321/capture/",
        {"points": 50, "idempotency_key": "c"},
        format="json",
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_reservation")
    assert response.json() == unknown.json()


def test_checkin_post_awards_rule_points(till, member):
    client, _key = till
    rf.event_rule(event="check_in", points=25, cap=1, period="day")
    ref = {"membership_number": member.membership_number}
    first = client.post(
        "/api/v1/checkins/", {"member": ref, "idempotency_key": "door-1"}, format="json"
    )
    assert first.status_code == 201, first.json()
    assert first.json()["points_awarded"] == 25
    second = client.post(
        "/api/v1/checkins/", {"member": ref, "idempotency_key": "door-2"}, format="json"
    )
    assert second.json()["points_awarded"] == 0


def test_identify_summary_has_tier_and_points(till, member):
    from members.api.summary import member_summary
    from rewards.models import MemberTier, Tier

    client, _key = till
    rf.earned(member, 42)
    MemberTier.objects.create(
        member=member, tier=Tier.objects.create(code="gold", name_sv="Guld", name_en="Gold")
    )
    summary = member_summary(member)
    assert summary["points"] == {"available": 42, "pending": 0, "reserved": 0, "posted": 42}
    response = client.post(
        "/api/v1/members/identify/", {"membership_number": member.membership_number}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["tier"] == {"code": "gold", "name": "Guld"}
