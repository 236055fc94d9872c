from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from members.api.permissions import HasScope, IsMember
from members.api.serializers import (
    ErrorSerializer,
    IdentifyInputSerializer,
    MemberSummarySerializer,
    MeSerializer,
)
from members.api.summary import member_summary
from members.selectors import member_identify

AMBIGUOUS_MEMBER_RESPONSE = OpenApiResponse(
    ErrorSerializer,
    description="`ambiguous_member`: the phone number is shared by several members (a "
    "family). `details.membership_numbers` lists their membership numbers (at most 10, in "
    "number order) and nothing else about them; ask the customer which one is theirs and "
    "identify again by membership number or card.",
    examples=[
        OpenApiExample(
            "Shared phone",
            value={
                "error": {
                    "code": "ambiguous_member",
                    "message": "Several members share this phone number. Ask which "
                    "membership it is and identify by membership number or card.",
                    "details": {"membership_numbers": ["4711000011", "5820000027"]},
                }
            },
            response_only=True,
            status_codes=["409"],
        )
    ],
)


class MeView(APIView):
    """The logged-in member's own profile and summary."""

    permission_classes = [IsMember]

    @extend_schema(responses={200: MeSerializer, 403: ErrorSerializer}, tags=["members"])
    def get(self, request: Request) -> Response:
        member = request.user.member  # type: ignore[union-attr]
        data = member_summary(member) | {
            "email": request.user.email,  # type: ignore[union-attr]
            "phone": member.phone,
            "birth_date": member.birth_date,
        }
        return Response(MeSerializer(data).data)


class IdentifyView(APIView):
    """Resolve a scanned card, membership number, phone or email to a member (tills, web shop)."""

    permission_classes = [HasScope]
    required_scope = "members:read"

    @extend_schema(
        request=IdentifyInputSerializer,
        responses={
            200: MemberSummarySerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: OpenApiResponse(ErrorSerializer, description="`unknown_member`"),
            409: AMBIGUOUS_MEMBER_RESPONSE,
        },
        examples=[
            OpenApiExample("By card", value={"card": "KK1:…"}, request_only=True),
            OpenApiExample("By phone", value={"phone": "070-123 45 67"}, request_only=True),
        ],
        tags=["members"],
    )
    def post(self, request: Request) -> Response:
        serializer = IdentifyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = member_identify(**serializer.validated_data)
        return Response(MemberSummarySerializer(member_summary(member)).data)


@csrf_exempt  # it changes nothing; a POST without a CSRF token still gets the JSON 404
def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any path under /api/v1/ that no route matches: the API's JSON error, not an HTML
    page. Every endpoint ends in a slash; the message says so when that is what is missing."""
    message = "No API endpoint at this address."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            message += f" Did you mean {request.path}/ ?"
    return JsonResponse({"error": {"code": "not_found", "message": message}}, status=404)
