from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

IDENTIFIERS = ("card", "membership_number", "phone", "email")
# Ten digits with spaces anywhere ("4711 000 011"), nothing else; ``\Z`` so that no trailing
# newline slips through (the schema shows it as ``$``).
MEMBERSHIP_NUMBER_REGEX = r"^ *(?:[0-9] *){10}\Z"
# Whitespace as Python's str.strip() (which CharField trims) and JSON Schema's ECMA ``\s``
# see it, spelt out: the two ``\s`` differ (U+001C-U+001F, U+0085, U+FEFF), so no pattern
# here uses the shorthand, and the server and the schema agree on every character.
WHITESPACE = (
    r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# Not blank: CharField trims whitespace and then refuses "", so the schema says so too.
NOT_BLANK_REGEX = rf"[^{WHITESPACE}]"


class InputSerializer(serializers.Serializer):
    """Base of every API input: JSON types as the schema states them. DRF would take 12 for
    a string field, "12" for an integer and "yes" for a boolean; the schema says
    ``type: string`` / ``integer`` / ``boolean``, so anything else is refused (400)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {
                name: [ErrorDetail(str(_TYPE_MESSAGES[kind]), "invalid")]
                for name, field in self.fields.items()
                if not field.read_only and name in data
                for kind in [_json_type_problem(field, data[name])]
                if kind
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


_TYPE_MESSAGES = {
    "string": _("Must be text (a JSON string)."),
    "integer": _("Must be a whole number (a JSON integer)."),
    "boolean": _("Must be true or false (a JSON boolean)."),
}


def _json_type_problem(field: serializers.Field, value: Any) -> str | None:
    """The JSON type ``value`` should have had for ``field``, or None when it has it."""
    if value is None and field.allow_null:
        return None
    if isinstance(field, serializers.CharField | serializers.DateTimeField):
        return None if isinstance(value, str) else "string"
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "boolean"
    if isinstance(field, serializers.IntegerField):
        return None if type(value) is int else "integer"
    return None


class IdentifyInputSerializer(InputSerializer):
    """Exactly one of card, membership_number, phone, email (the schema's ``oneOf``)."""

    exactly_one_of = IDENTIFIERS

    card = serializers.RegexField(
        rf"^[{WHITESPACE}]*KK1:",
        required=False,
        max_length=200,
        help_text="The scanned QR payload (starts with KK1:). A payload whose signature does "
        "not match is refused with 400 `invalid_card_token`.",
    )
    membership_number = serializers.RegexField(
        MEMBERSHIP_NUMBER_REGEX,
        required=False,
        max_length=14,
        trim_whitespace=False,
        help_text="Ten digits; spaces are ignored.",
    )
    phone = serializers.RegexField(
        NOT_BLANK_REGEX,
        required=False,
        max_length=30,
        help_text="In any common format; a number that is no phone number matches nobody.",
    )
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
