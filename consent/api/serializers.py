from __future__ import annotations

from rest_framework import serializers

from members.api.serializers import NOT_BLANK_REGEX, InputSerializer


class ConsentStateSerializer(serializers.Serializer):
    purpose = serializers.CharField(help_text="Purpose code, e.g. marketing_email.")
    name = serializers.CharField(help_text="In the request's language.")
    description = serializers.CharField()
    channel = serializers.CharField(allow_blank=True)
    granted = serializers.BooleanField()
    changed_at = serializers.DateTimeField(allow_null=True)


class ConsentListSerializer(serializers.Serializer):
    policy_version = serializers.CharField(allow_null=True)
    consents = ConsentStateSerializer(many=True)


class ConsentSetInputSerializer(InputSerializer):
    granted = serializers.BooleanField()
    policy_version = serializers.RegexField(
        NOT_BLANK_REGEX,
        required=False,
        max_length=20,
        help_text="The policy version shown to the member (default: current).",
    )
