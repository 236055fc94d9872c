"""Shapes of the integration API: input serializers validate, output serializers render.

Nothing here writes: views pass ``validated_data`` to one service.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, TypeGuard

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from members.api.errors import named_validation_code
from members.api.serializers import (
    IDENTIFIERS,
    MEMBERSHIP_NUMBER_REGEX,
    NOT_BLANK_REGEX,
    WHITESPACE,
    IdentifyInputSerializer,
    InputSerializer,
)

MAX_POINTS = 10_000_000
# The Swedish VAT rates, in basis points (rewards.models.VatRate).
VAT_RATES = (2500, 1200, 600, 0)
MAX_ORE = 10**11  # one billion kronor
# ``\Z``, not ``$`` (which lets a trailing newline through in Python); the schema shows ``$``.
# Ids and keys are taken as sent (no trimming), so that the server and the schema agree.
ID_REGEX = r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}\Z"
KEY_REGEX = r"^[A-Za-z0-9._:-]{1,100}\Z"
# A SKU starts with neither whitespace nor a control character and ends in no whitespace;
# taken as sent (trimming would make the server accept what the schema refuses).
SKU_REGEX = rf"^[^{WHITESPACE}\x00-\x1f\x7f-\x9f](?:[^\x00]{{0,62}}[^{WHITESPACE}\x00])?\Z"

# Rules a JSON schema cannot state: the 400 names them (members.api.errors) and the purchase
# operation's description lists them.
DISCOUNT_EXCEEDS_LINE = named_validation_code("discount_exceeds_line")
LINE_AMOUNT_TOO_LARGE = named_validation_code("line_amount_too_large")
LINES_TOTAL_TOO_LARGE = named_validation_code("lines_total_too_large")
PURCHASED_AT_OUT_OF_RANGE = named_validation_code("purchased_at_out_of_range")


class MemberRefSerializer(IdentifyInputSerializer):
    """Exactly one of card, membership_number, phone, email."""


class StoreCodeMixin(InputSerializer):
    store = serializers.RegexField(
        NOT_BLANK_REGEX,
        required=False,
        max_length=20,
        help_text="Optional: the store code. It must be the API key's own store (else 403).",
    )


class LineInputSerializer(InputSerializer):
    sku = serializers.RegexField(SKU_REGEX, max_length=64, trim_whitespace=False)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    category = serializers.SlugField(required=False, allow_blank=True, max_length=60, default="")
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    unit_price_ore = serializers.IntegerField(
        min_value=0,
        max_value=MAX_ORE,
        help_text="In öre. quantity × unit_price_ore may not exceed 100 000 000 000 "
        "(else 400 `line_amount_too_large`).",
    )
    discount_ore = serializers.IntegerField(
        min_value=0,
        max_value=MAX_ORE,
        default=0,
        help_text="In öre; a discount cannot exceed its line: at most quantity × "
        "unit_price_ore (else 400 `discount_exceeds_line`).",
    )
    vat_rate_bp = serializers.ChoiceField(
        choices=VAT_RATES,
        required=False,
        allow_null=True,
        default=None,
        error_messages={
            "invalid_choice": _("Not a Swedish VAT rate: use 2500, 1200, 600 or 0 (basis points).")
        },
        help_text="Optional: the line's VAT rate in basis points, one of the Swedish rates "
        "2500 (25 %), 1200 (12 %), 600 (6 %) or 0. Left out or null: the product's rate (set "
        "in the back-office on the product or its category; 25 % when neither has one). "
        "Prices are VAT inclusive; the receipt shows the VAT per rate.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["quantity"] * attrs["unit_price_ore"] > MAX_ORE:
            raise serializers.ValidationError(
                {"unit_price_ore": _("The line amount is larger than any real purchase.")},
                code=LINE_AMOUNT_TOO_LARGE,
            )
        if attrs["discount_ore"] > attrs["quantity"] * attrs["unit_price_ore"]:
            raise serializers.ValidationError(
                {"discount_ore": _("The discount is larger than the line amount.")},
                code=DISCOUNT_EXCEEDS_LINE,
            )
        return attrs


class PurchaseInputSerializer(StoreCodeMixin):
    receipt_id = serializers.RegexField(
        ID_REGEX,
        max_length=64,
        trim_whitespace=False,
        help_text="The till's receipt id or the web shop's order id.",
    )
    member = MemberRefSerializer(
        required=False, allow_null=True, help_text="Who bought; null when no card was shown."
    )
    total_ore = serializers.IntegerField(
        min_value=0, max_value=MAX_ORE, help_text="The total paid, in öre (SEK x 100)."
    )
    purchased_at = serializers.DateTimeField(
        required=False,
        help_text="When the purchase was made (ISO 8601); defaults to now. Not more than an "
        "hour ahead, not before 2000 (else 400 `purchased_at_out_of_range`).",
    )
    lines = LineInputSerializer(many=True, allow_empty=False, max_length=500)  # type: ignore[call-arg]

    def validate_lines(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if sum(line["quantity"] * line["unit_price_ore"] for line in lines) > MAX_ORE:
            raise serializers.ValidationError(
                _("The lines add up to more than any real purchase."), code=LINES_TOTAL_TOO_LARGE
            )
        return lines

    def validate_purchased_at(self, value: datetime.datetime) -> datetime.datetime:
        problem = purchased_at_problem(value)
        if problem is not None:
            raise serializers.ValidationError(problem, code=PURCHASED_AT_OUT_OF_RANGE)
        return value


def purchased_at_problem(value: datetime.datetime) -> Any:
    if value > timezone.now() + datetime.timedelta(hours=1):
        return _("The purchase time is in the future.")
    if value.year < 2000:
        return _("The purchase time is too far in the past.")
    return None


# --- the purchase's fast path ------------------------------------------------------------
# A till posts a purchase per receipt; DRF spends more CPU building and running the nested
# serializers above than the database spends storing the purchase. This checks the common,
# clean shape directly, with the same rules, and returns what PurchaseInputSerializer's
# validated_data would be; anything it is not certain about (a whitespace-padded string, a
# number sent as text, an identifier other than the membership number, any invalid value)
# returns None, and the view runs the serializer, which gives the usual errors. A property
# test checks that every body this accepts, the serializer accepts with the same data.
_SKU_RE = re.compile(SKU_REGEX)
_ID_RE = re.compile(ID_REGEX)
_SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
_NUMBER_RE = re.compile(MEMBERSHIP_NUMBER_REGEX)
# CharField refuses NUL and surrogate characters; leading/trailing whitespace it would trim.
_UNSAFE_RE = re.compile("[\x00\ud800-\udfff]")
_PURCHASE_KEYS = frozenset({"receipt_id", "member", "total_ore", "purchased_at", "lines", "store"})
_LINE_KEYS = frozenset(
    {"sku", "name", "category", "quantity", "unit_price_ore", "discount_ore", "vat_rate_bp"}
)
_DATETIME = serializers.DateTimeField()


def _plain(value: Any, max_length: int) -> TypeGuard[str]:
    return (
        type(value) is str
        and len(value) <= max_length
        and value == value.strip()
        and _UNSAFE_RE.search(value) is None
    )


def _whole(value: Any, low: int, high: int) -> TypeGuard[int]:
    return type(value) is int and low <= value <= high


def _line_fast(line: Any) -> dict[str, Any] | None:
    if type(line) is not dict or not line.keys() <= _LINE_KEYS:
        return None
    sku = line.get("sku")
    name = line.get("name", "")
    category = line.get("category", "")
    quantity = line.get("quantity")
    price = line.get("unit_price_ore")
    discount = line.get("discount_ore", 0)
    vat_rate_bp = line.get("vat_rate_bp")
    if vat_rate_bp is not None and (type(vat_rate_bp) is not int or vat_rate_bp not in VAT_RATES):
        return None
    if not (_plain(sku, 64) and _SKU_RE.search(sku)):
        return None
    if not _plain(name, 200) or not _plain(category, 60):
        return None
    if category and not _SLUG_RE.search(category):
        return None
    if not (_whole(quantity, 1, 100_000) and _whole(price, 0, MAX_ORE)):
        return None
    if (
        not _whole(discount, 0, MAX_ORE)
        or quantity * price > MAX_ORE
        or discount > quantity * price
    ):
        return None
    return {
        "sku": sku,
        "name": name,
        "category": category,
        "quantity": quantity,
        "unit_price_ore": price,
        "discount_ore": discount,
        "vat_rate_bp": vat_rate_bp,
    }


def purchase_input_fast(data: Any) -> dict[str, Any] | None:
    """PurchaseInputSerializer's validated_data for a clean body, or None: ask the serializer."""
    if type(data) is not dict or not data.keys() <= _PURCHASE_KEYS:
        return None
    receipt_id = data.get("receipt_id")
    total_ore = data.get("total_ore")
    raw_lines = data.get("lines")
    if not (_plain(receipt_id, 64) and _ID_RE.search(receipt_id)):
        return None
    if not _whole(total_ore, 0, MAX_ORE):
        return None
    if type(raw_lines) is not list or not 1 <= len(raw_lines) <= 500:
        return None
    lines = []
    for raw in raw_lines:
        line = _line_fast(raw)
        if line is None:
            return None
        lines.append(line)
    if sum(line["quantity"] * line["unit_price_ore"] for line in lines) > MAX_ORE:
        return None
    validated: dict[str, Any] = {"receipt_id": receipt_id, "total_ore": total_ore, "lines": lines}
    if "member" in data:
        member = data["member"]
        if member is not None:
            if type(member) is not dict or member.keys() != {"membership_number"}:
                return None
            number = member["membership_number"]
            if not (_plain(number, 14) and _NUMBER_RE.search(number)):
                return None
            member = {"membership_number": number}
        validated["member"] = member
    if "store" in data:
        if not _plain(data["store"], 20) or not data["store"]:
            return None
        validated["store"] = data["store"]
    if "purchased_at" in data:
        if type(data["purchased_at"]) is not str:
            return None
        try:
            purchased_at = _DATETIME.to_internal_value(data["purchased_at"])
        except serializers.ValidationError:
            return None
        if purchased_at_problem(purchased_at) is not None:
            return None
        validated["purchased_at"] = purchased_at
    return validated


class ReturnLineSerializer(InputSerializer):
    line_no = serializers.IntegerField(min_value=1, max_value=500)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)


class ReturnInputSerializer(StoreCodeMixin):
    return_id = serializers.RegexField(ID_REGEX, max_length=64, trim_whitespace=False)
    lines = ReturnLineSerializer(  # type: ignore[call-arg]
        many=True,
        required=False,
        allow_empty=False,
        max_length=500,
        help_text="Lines returned; leave out to return the whole purchase.",
    )


class IdempotentSerializer(StoreCodeMixin):
    idempotency_key = serializers.RegexField(
        KEY_REGEX,
        max_length=100,
        trim_whitespace=False,
        help_text="Unique per operation; a retry with the same key and body gets the same answer.",
    )


class RedeemInputSerializer(IdempotentSerializer):
    member = MemberRefSerializer()
    points = serializers.IntegerField(min_value=1, max_value=MAX_POINTS)
    reference = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")


class ReserveInputSerializer(RedeemInputSerializer):
    timeout_seconds = serializers.IntegerField(
        required=False, min_value=10, max_value=24 * 3600, help_text="Defaults to 15 minutes."
    )


class CaptureInputSerializer(IdempotentSerializer):
    points = serializers.IntegerField(
        min_value=1, max_value=MAX_POINTS, help_text="At most the reserved points."
    )


class ReleaseInputSerializer(IdempotentSerializer):
    pass


class BalanceInputSerializer(InputSerializer):
    member = MemberRefSerializer()
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=10)


class CheckInInputSerializer(IdempotentSerializer):
    member = MemberRefSerializer()


# --- output ----------------------------------------------------------------------------------


class BalanceSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    pending = serializers.IntegerField()
    reserved = serializers.IntegerField()
    posted = serializers.IntegerField()


class ExplanationSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    sv = serializers.CharField()
    en = serializers.CharField()


class PurchaseLineOutSerializer(serializers.Serializer):
    line_no = serializers.IntegerField()
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    points = serializers.IntegerField()


class PurchasePointsSerializer(serializers.Serializer):
    earned = serializers.IntegerField()
    available_at = serializers.DateTimeField(allow_null=True)
    explanation = ExplanationSerializer(many=True)


class PurchaseOutSerializer(serializers.Serializer):
    purchase_id = serializers.IntegerField()
    store = serializers.CharField()
    receipt_id = serializers.CharField()
    membership_number = serializers.CharField(allow_null=True)
    total_ore = serializers.IntegerField()
    purchased_at = serializers.DateTimeField()
    points = PurchasePointsSerializer()
    lines = PurchaseLineOutSerializer(many=True)


class ReturnOutSerializer(serializers.Serializer):
    return_id = serializers.CharField()
    receipt_id = serializers.CharField()
    points_reversed = serializers.IntegerField()
    points_unrecovered = serializers.IntegerField()
    lines = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))


class RedeemOutSerializer(serializers.Serializer):
    entry_id = serializers.IntegerField()
    points = serializers.IntegerField()
    balance = BalanceSerializer()


class ReservationOutSerializer(serializers.Serializer):
    reservation_id = serializers.IntegerField()
    points = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["active", "captured", "released", "expired"])
    expires_at = serializers.DateTimeField(required=False)
    captured = serializers.IntegerField(required=False)
    balance = BalanceSerializer()


class EntryOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    points = serializers.IntegerField()
    change = serializers.IntegerField(help_text="Change to pending + posted points.")
    created_at = serializers.DateTimeField()
    store = serializers.CharField(allow_null=True)
    explanation = ExplanationSerializer(many=True)


class BalanceOutSerializer(serializers.Serializer):
    membership_number = serializers.CharField()
    balance = BalanceSerializer()
    entries = EntryOutSerializer(many=True)


class CheckInOutSerializer(serializers.Serializer):
    checkin_id = serializers.IntegerField()
    points_awarded = serializers.IntegerField()


def member_identifiers(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data[name] for name in IDENTIFIERS if data.get(name)}
