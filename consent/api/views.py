"""The member's own consents over the API (session auth, CSRF): read, grant, withdraw."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.api.serializers import (
    ConsentListSerializer,
    ConsentSetInputSerializer,
    ConsentStateSerializer,
)
from consent.forms import client_ip, client_user_agent
from consent.models import ConsentEvent, PolicyVersion, Purpose
from consent.selectors import consent_states, policy_version_current, purposes_needing_consent
from consent.services.consent import consent_set
from members.actors import request_actor
from members.api.permissions import IsMember
from members.api.serializers import ErrorSerializer
from members.models import Member


def _state(purpose: Purpose, states: dict[int, Any]) -> dict[str, Any]:
    state = states.get(purpose.pk)
    return {
        "purpose": purpose.code,
        "name": purpose.name,
        "description": purpose.description,
        "channel": purpose.channel,
        "granted": bool(state and state.granted),
        "changed_at": state.changed_at if state else None,
    }


class MyConsentsView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses={200: ConsentListSerializer, 403: ErrorSerializer}, tags=["consent"])
    def get(self, request: Request) -> Response:
        member: Member = request.user.member  # type: ignore[union-attr]
        states = consent_states(member=member)
        policy = policy_version_current()
        data = {
            "policy_version": policy.version if policy else None,
            "consents": [_state(p, states) for p in purposes_needing_consent()],
        }
        return Response(ConsentListSerializer(data).data)


class MyConsentView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        request=ConsentSetInputSerializer,
        responses={
            200: ConsentStateSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
        examples=[
            OpenApiExample("Withdraw", value={"granted": False}, request_only=True),
            OpenApiExample(
                "Grant", value={"granted": True, "policy_version": "2026-1"}, request_only=True
            ),
        ],
        tags=["consent"],
    )
    def put(self, request: Request, code: str) -> Response:
        member: Member = request.user.member  # type: ignore[union-attr]
        serializer = ConsentSetInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        purpose = purposes_needing_consent().filter(code=code).first()
        if purpose is None:
            raise NotFound("No purpose with that code rests on consent.")
        version = None
        if "policy_version" in serializer.validated_data:
            version = PolicyVersion.objects.filter(
                version=serializer.validated_data["policy_version"]
            ).first()
            if version is None:
                raise ValidationError({"policy_version": ["Unknown policy version."]})
        consent_set(
            member=member,
            purpose=purpose,
            granted=serializer.validated_data["granted"],
            source=ConsentEvent.Source.API,
            actor=request_actor(request),
            policy_version=version,
            ip_address=client_ip(request),
            user_agent=client_user_agent(request),
        )
        return Response(ConsentStateSerializer(_state(purpose, consent_states(member=member))).data)
