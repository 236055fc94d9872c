"""Shapes of the integration API: input serializers validate, output serializers render.

Nothing here writes: views pass ``validated_data`` to one service.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from members.api.serializers import IDENTIFIERS, IdentifyInputSerializer

MAX_POINTS = 10_000_000
MAX_ORE = 10**11  # one billion kronor
ID_REGEX = r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}$"
KEY_REGEX = r"^[A-Za-z0-9._:-]{1,100}$"


class MemberRefSerializer(IdentifyInputSerializer):
    """Exactly one of card, membership_number, phone, email."""


class StoreCodeMixin(serializers.Serializer):
    store = serializers.CharField(
        required=False,
        max_length=20,
        help_text="Optional: the store code. It must be the API key's own store (else 403).",
    )


class LineInputSerializer(serializers.Serializer):
    sku = serializers.RegexField(r"^[^\s\x00][^\x00]{0,63}$", max_length=64)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    category = serializers.SlugField(required=False, allow_blank=True, max_length=60, default="")
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    unit_price_ore = serializers.IntegerField(min_value=0, max_value=MAX_ORE)
    discount_ore = serializers.IntegerField(min_value=0, max_value=MAX_ORE, default=0)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["quantity"] * attrs["unit_price_ore"] > MAX_ORE:
            raise serializers.ValidationError(
                {"unit_price_ore": _("The line amount is larger than any real purchase.")}
            )
        if attrs["discount_ore"] > attrs["quantity"] * attrs["unit_price_ore"]:
            raise serializers.ValidationError(
                {"discount_ore": _("The discount is larger than the line amount.")}
            )
        return attrs


class PurchaseInputSerializer(StoreCodeMixin):
    receipt_id = serializers.RegexField(
        ID_REGEX, max_length=64, help_text="The till's receipt id or the web shop's order id."
    )
    member = MemberRefSerializer(
        required=False, allow_null=True, help_text="Who bought; null when no card was shown."
    )
    total_ore = serializers.IntegerField(
        min_value=0, max_value=MAX_ORE, help_text="The total paid, in öre (SEK x 100)."
    )
    purchased_at = serializers.DateTimeField(
        required=False, help_text="When the purchase was made (ISO 8601); defaults to now."
    )
    lines = LineInputSerializer(many=True, allow_empty=False, max_length=500)  # type: ignore[call-arg]

    def validate_lines(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if sum(line["quantity"] * line["unit_price_ore"] for line in lines) > MAX_ORE:
            raise serializers.ValidationError(_("The lines add up to more than any real purchase."))
        return lines

    def validate_purchased_at(self, value: datetime.datetime) -> datetime.datetime:
        if value > timezone.now() + datetime.timedelta(hours=1):
            raise serializers.ValidationError(_("The purchase time is in the future."))
        if value.year < 2000:
            raise serializers.ValidationError(_("The purchase time is too far in the past."))
        return value


class ReturnLineSerializer(serializers.Serializer):
    line_no = serializers.IntegerField(min_value=1, max_value=500)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)


class ReturnInputSerializer(StoreCodeMixin):
    return_id = serializers.RegexField(ID_REGEX, max_length=64)
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


class BalanceInputSerializer(serializers.Serializer):
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
