"""Mobile numbers are stored in E.164 and accepted as people type them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from members.phone import phone_display, phone_normalise, phone_try_normalise


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("070-123 45 67", "+46701234567"),
        ("0701234567", "+46701234567"),
        ("070 123 45 67", "+46701234567"),
        ("  070-1234567  ", "+46701234567"),
        ("+46 70 123 45 67", "+46701234567"),
        ("+46701234567", "+46701234567"),
        ("+46 (0)70-123 45 67", "+46701234567"),
        ("0046 70 123 45 67", "+46701234567"),
        ("0046701234567", "+46701234567"),
        ("073-987 65 43", "+46739876543"),
        ("+47 412 34 567", "+4741234567"),  # Norway
        ("+44 7911 123456", "+447911123456"),  # United Kingdom
        ("", ""),
        ("   ", ""),
    ],
)
def test_phone_normalise_accepts_local_and_international_forms(raw, e164):
    assert phone_normalise(raw) == e164


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("08-123 456 78", "not_mobile"),  # Stockholm landline
        ("031-123 45 67", "not_mobile"),  # Göteborg landline
        ("+46 8 123 456 78", "not_mobile"),
        ("12345", "invalid_phone"),
        ("070-123", "invalid_phone"),
        ("070-123 45 67 89 01", "invalid_phone"),
        ("abc", "invalid_phone"),
        ("+", "invalid_phone"),
        ("!!070!!", "invalid_phone"),
    ],
)
def test_phone_normalise_rejects_landlines_and_garbage(raw, code):
    with pytest.raises(ValidationError) as info:
        phone_normalise(raw)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("070 123 45 67", "+46701234567"), ("08-123 456 78", "+46812345678"), ("hello", None)],
)
def test_phone_try_normalise_for_searching(raw, e164):
    assert phone_try_normalise(raw) == e164


def test_phone_display_is_national_for_sweden_and_international_otherwise():
    assert phone_display("+46701234567") == "070-123 45 67"
    assert phone_display("+4741234567") == "+47 41 23 45 67"
    assert phone_display("") == ""
