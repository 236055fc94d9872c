"""The pull feed of events (docs/webhooks.md "Pull feed"): the same events and payloads as
the webhooks, for integrations that cannot receive them. Parse, authorise, call
``members.outbox.outbox_feed``, render."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from members.api.permissions import HasScope, api_client
from members.api.serializers import ErrorSerializer
from members.outbox import EVENT_TYPES, FEED_SCOPE, event_payload, outbox_feed

FEED_LIMIT_DEFAULT = 100
FEED_LIMIT_MAX = 500


class FeedQuerySerializer(serializers.Serializer):
    """Query parameters: strings, which IntegerField parses ("12"; "x" is refused)."""

    after = serializers.IntegerField(
        min_value=0,
        default=0,
        help_text="The `next` of the previous page; 0 (the default) starts at the oldest "
        "event kept.",
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=FEED_LIMIT_MAX, default=FEED_LIMIT_DEFAULT
    )

    def to_internal_value(self, data: Any) -> Any:
        # Digits only: DRF would read "" as left out and "5.0" as 5; the schema says integer.
        errors = {
            name: [field.error_messages["invalid"]]
            for name, field in self.fields.items()
            if name in data and not re.fullmatch(r"-?[0-9]+", str(data[name]))
        }
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class EventSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="`msg_<uuid hex>`: the same `webhook-id` as webhooks")
    type = serializers.ChoiceField(choices=sorted(EVENT_TYPES))
    version = serializers.IntegerField(min_value=1)
    occurred_at = serializers.DateTimeField()
    data = serializers.DictField(  # type: ignore[assignment] # the body's key, not .data
        help_text="`member_id`, `membership_number` (member events; null once erased) and "
        "`store` (a store's code or null), then the type's own facts (docs/webhooks.md)"
    )


class FeedSerializer(serializers.Serializer):
    events = EventSerializer(many=True)
    next = serializers.IntegerField(
        min_value=0, help_text="Send as `after` to get the following events"
    )


class EventsFeedView(APIView):
    """Events after a cursor, oldest first, that the key's scopes and store allow.

    Each event type needs its own scope besides `events:read` (docs/webhooks.md): member,
    tier, consent and check-in events `members:read`, purchases and returns
    `purchases:read`, points `points:read`, vouchers `vouchers:read`. Purchases, returns,
    check-ins and used vouchers come from the key's own store only, unless the key has
    `events:all_stores`. The feed never skips an event: positions are given in commit order.
    Keep `next` and ask again; an empty page still moves `next` past events the key may not
    see."""

    permission_classes = [HasScope]
    required_scope = FEED_SCOPE

    @extend_schema(
        parameters=[FeedQuerySerializer],
        responses={
            200: FeedSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Invalid `after` or `limit`"),
            401: OpenApiResponse(ErrorSerializer, description="Missing or invalid API key"),
            403: OpenApiResponse(ErrorSerializer, description="The key lacks `events:read`"),
        },
        examples=[
            OpenApiExample(
                "A page",
                response_only=True,
                value={
                    "events": [
                        {
                            "id": "msg_2f1c9a7e4b0d4e8f9a1b2c3d4e5f6a7b",
                            "type": "purchase.recorded",
                            "version": 1,
                            "occurred_at": "2026-12-04T13:05:00.123456+00:00",
                            "data": {
                                "member_id": 1042,
                                "membership_number": "4711000011",
                                "store": "sthlm-city",
                                **EVENT_TYPES["purchase.recorded"].example,
                            },
                        }
                    ],
                    "next": 18231,
                },
            )
        ],
        tags=["events"],
    )
    def get(self, request: Request) -> Response:
        query = FeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        client = api_client(request)
        assert client is not None  # HasScope
        events, cursor = outbox_feed(
            after=query.validated_data["after"],
            limit=query.validated_data["limit"],
            scopes=client.api_key.scopes,
            store_id=client.store.pk,
        )
        return Response({"events": [event_payload(e) for e in events], "next": cursor})
