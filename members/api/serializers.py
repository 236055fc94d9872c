from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

IDENTIFIERS = ("card", "membership_number", "phone", "email")


class IdentifyInputSerializer(serializers.Serializer):
    card = serializers.CharField(
        required=False, max_length=200, help_text="The scanned QR payload (starts with KK1:)."
    )
    membership_number = serializers.RegexField(
        r"^[0-9 ]{10,14}$", required=False, help_text="Ten digits; spaces are ignored."
    )
    phone = serializers.CharField(required=False, max_length=30)
    email = serializers.EmailField(required=False, max_length=254)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in IDENTIFIERS if attrs.get(name)]
        if len(given) != 1:
            raise serializers.ValidationError(
                _("Give exactly one of: card, membership_number, phone, email.")
            )
        return attrs


class TierSummarySerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class MemberSummarySerializer(serializers.Serializer):
    membership_number = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    preferred_language = serializers.ChoiceField(choices=["sv", "en"])
    home_store = serializers.CharField(allow_null=True)
    member_since = serializers.DateField()
    tier = TierSummarySerializer(allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        from members.api.summary import summary_fields

        # Points, benefits and the like come from higher apps (members.api.summary).
        return {**super().get_fields(), **summary_fields()}


class MeSerializer(MemberSummarySerializer):
    email = serializers.EmailField()
    phone = serializers.CharField(allow_blank=True)
    birth_date = serializers.DateField(allow_null=True)


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(required=False)  # type: ignore[assignment]
    details = serializers.DictField(required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()
