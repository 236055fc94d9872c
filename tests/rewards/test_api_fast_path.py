"""The purchase endpoint's fast input check: never accepts what the serializer would not."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rewards.api.serializers import MAX_ORE, PurchaseInputSerializer, purchase_input_fast


def mostly(valid: Any, doubtful: Any) -> Any:
    """Valid values eight times in ten, so that many whole bodies are valid."""
    return st.integers(0, 9).flatmap(lambda n: valid if n < 8 else doubtful)


DOUBTFUL_TEXT = st.one_of(
    st.sampled_from(["", " pad", "pad ", "a\x00b", "\ud800", "x" * 65, "-x", "a\nb", "a b"]),
    st.text(max_size=8),
    st.integers(),
    st.none(),
)
WHOLE = mostly(
    st.integers(min_value=0, max_value=100_000),
    st.sampled_from([-1, 100_001, MAX_ORE, MAX_ORE + 1, True, 2.0, "5", None]),
)
SKU = mostly(st.from_regex(r"\A[A-Z0-9][A-Z0-9ö -]{0,10}[A-Z0-9]\Z"), DOUBTFUL_TEXT)
NAME = mostly(st.sampled_from(["Löparsko", "Vara 1", "", "x" * 200]), DOUBTFUL_TEXT)
CATEGORY = mostly(st.sampled_from(["loparskor", "skor", "", "a_b-c"]), DOUBTFUL_TEXT)
RECEIPT = mostly(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:/#-]{0,20}\Z"), DOUBTFUL_TEXT)
NUMBER = mostly(
    st.sampled_from(["4711000011", "4711 000 011", "47110000111111"]),
    st.sampled_from([" 4711000011", "123", "471100001111111", "abcdefghij"]),
)
MEMBER = mostly(
    st.one_of(st.none(), st.fixed_dictionaries({"membership_number": NUMBER})),
    st.sampled_from(
        [{"email": "anna@example.se"}, {"membership_number": "4711000011", "card": ""}, "4711"]
    ),
)
WHEN = mostly(
    st.sampled_from(["2026-03-15T14:02:11+01:00", "2026-03-15T13:02:11Z", "2026-03-15"]),
    st.one_of(
        st.sampled_from(["1999-12-31T23:00:00Z", "x", ""]),
        st.just((timezone.now() + datetime.timedelta(days=2)).isoformat()),
        st.none(),
        st.integers(),
    ),
)
VAT_RATE = mostly(
    st.sampled_from([2500, 1200, 600, 0, None]),
    st.sampled_from([1900, 25, -1, "1200", 2500.0, True, False, ""]),
)
STORE = mostly(st.sampled_from(["sthlm", "goteborg-1"]), DOUBTFUL_TEXT)


def _optional(draw: Any, key: str, strategy: Any, out: dict[str, Any], p: int = 5) -> None:
    if draw(st.integers(0, 9)) < p:
        out[key] = draw(strategy)


@st.composite
def lines(draw: Any) -> dict[str, Any]:
    line: dict[str, Any] = {}
    _optional(draw, "sku", SKU, line, p=10)
    _optional(draw, "name", NAME, line)
    _optional(draw, "category", CATEGORY, line)
    _optional(draw, "quantity", WHOLE, line, p=10)
    _optional(draw, "unit_price_ore", WHOLE, line, p=10)
    _optional(draw, "discount_ore", WHOLE, line, p=2)
    _optional(draw, "vat_rate_bp", VAT_RATE, line, p=3)
    _optional(draw, "extra", st.just(1), line, p=1)
    return line


@st.composite
def bodies(draw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    _optional(draw, "receipt_id", RECEIPT, body, p=10)
    _optional(draw, "member", MEMBER, body, p=8)
    _optional(draw, "total_ore", WHOLE, body, p=10)
    _optional(draw, "purchased_at", WHEN, body)
    _optional(draw, "store", STORE, body, p=2)
    many = mostly(st.lists(lines(), min_size=1, max_size=4), st.sampled_from([[], {}, "x"]))
    _optional(draw, "lines", many, body, p=10)
    return body


TILL_BODY = {
    "receipt_id": "K1-20260315-0042",
    "member": {"membership_number": "4711000011"},
    "total_ore": 129800,
    "purchased_at": "2026-03-15T14:02:11+01:00",
    "lines": [
        {
            "sku": "RUN-123",
            "name": "Löparsko",
            "category": "loparskor",
            "quantity": 1,
            "unit_price_ore": 119900,
        },
        {"sku": "SOCK-9", "quantity": 2, "unit_price_ore": 4950},
    ],
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies())
@example(body=TILL_BODY)
def test_purchase_input_fast_accepts_only_what_the_serializer_accepts_identically(body):
    # Given any body, when the fast path accepts it
    fast = purchase_input_fast(body)
    if fast is None:
        return
    # then the serializer accepts it too, with exactly the same validated data
    serializer = PurchaseInputSerializer(data=body)
    assert serializer.is_valid(), serializer.errors
    assert fast == serializer.validated_data


def test_purchase_input_fast_takes_a_tills_usual_body():
    # Given the body a till sends (membership number, two lines, a purchase time)
    # When it is checked, then the fast path takes it (no serializer needed)
    fast = purchase_input_fast(TILL_BODY)
    assert fast is not None
    assert fast["lines"][1] == {
        "sku": "SOCK-9",
        "name": "",
        "category": "",
        "quantity": 2,
        "unit_price_ore": 4950,
        "discount_ore": 0,
        "vat_rate_bp": None,  # not sent: the product's rate
    }


def test_purchase_input_fast_leaves_doubtful_bodies_to_the_serializer():
    # Given bodies the serializer would clean up or refuse, then the fast path declines them
    padded = {**TILL_BODY, "receipt_id": " K1-1"}
    text_number = {**TILL_BODY, "total_ore": "129800"}
    by_email = {**TILL_BODY, "member": {"email": "anna@example.se"}}
    too_expensive = {**TILL_BODY, "lines": [{"sku": "X", "quantity": 2, "unit_price_ore": MAX_ORE}]}
    # a VAT rate that is not Swedish, or not a number
    line = {"sku": "X", "quantity": 1, "unit_price_ore": 100}
    not_swedish = {**TILL_BODY, "lines": [{**line, "vat_rate_bp": 1900}]}
    vat_text = {**TILL_BODY, "lines": [{**line, "vat_rate_bp": "1200"}]}
    for body in (padded, text_number, by_email, too_expensive, not_swedish, vat_text):
        assert purchase_input_fast(body) is None
    assert purchase_input_fast({"lines": []}) is None
    assert purchase_input_fast([]) is None
