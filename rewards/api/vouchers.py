"""Vouchers for tills and the web shop: validate, redeem (idempotently, exactly once) and list
a member's usable vouchers. Parse, authorise (scope + own store), call one service, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from members.api.permissions import HasScope, api_client_store
from members.api.serializers import NOT_BLANK_REGEX, ErrorSerializer, InputSerializer
from rewards import selectors
from rewards.api.serializers import (
    KEY_REGEX,
    MAX_ORE,
    MemberRefSerializer,
    StoreCodeMixin,
    member_identifiers,
)
from rewards.ledger.idempotency import store_idempotency_key
from rewards.loyalty import catalogue

ERRORS = {
    400: OpenApiResponse(
        ErrorSerializer, description="`invalid_input`, `basket_below_minimum`, ..."
    ),
    401: OpenApiResponse(ErrorSerializer, description="Missing or invalid API key"),
    403: OpenApiResponse(ErrorSerializer, description="Missing scope, or `wrong_store`"),
    404: OpenApiResponse(ErrorSerializer, description="`unknown_voucher`, `unknown_member`"),
    409: OpenApiResponse(
        ErrorSerializer,
        description="`voucher_used`, `voucher_cancelled`, `voucher_expired`; "
        "`ambiguous_member` when the member is named by a phone number several members share "
        "(`details.membership_numbers` lists them)",
    ),
}
CODE_EXAMPLE = "7KQM-4XTA-9BHC-2WRN"


class VoucherCodeSerializer(StoreCodeMixin):
    code = serializers.RegexField(
        NOT_BLANK_REGEX,
        max_length=60,
        help_text="The code as typed (dashes allowed) or the scanned QR payload.",
    )
    basket_total_ore = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_ORE,
        help_text="The basket's total in öre, to check the minimum and compute the discount.",
    )


class VoucherRedeemSerializer(VoucherCodeSerializer):
    idempotency_key = serializers.RegexField(
        KEY_REGEX,
        max_length=100,
        trim_whitespace=False,
        help_text="Unique per redemption attempt; a retry sends the same key.",
    )
    reference = serializers.CharField(
        required=False, allow_blank=True, max_length=64, default="", help_text="Receipt/order."
    )


class VoucherListInputSerializer(InputSerializer):
    member = MemberRefSerializer()


class RewardOutSerializer(serializers.Serializer):
    code = serializers.CharField()
    kind = serializers.CharField()
    name_sv = serializers.CharField()
    name_en = serializers.CharField()
    percent_off = serializers.IntegerField(allow_null=True)
    amount_off_ore = serializers.IntegerField(allow_null=True)
    min_basket_ore = serializers.IntegerField()
    product_sku = serializers.CharField(allow_null=True)


class VoucherOutSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.CharField()
    valid_until = serializers.DateTimeField()
    reward = RewardOutSerializer()
    partner_code = serializers.CharField(allow_null=True)
    membership_number = serializers.CharField()
    discount_ore = serializers.IntegerField(
        allow_null=True, help_text="What it takes off this basket, when known."
    )
    used_at = serializers.DateTimeField(allow_null=True)
    used_store = serializers.CharField(allow_null=True)


class VoucherListOutSerializer(serializers.Serializer):
    membership_number = serializers.CharField()
    vouchers = VoucherOutSerializer(many=True)


def _validated(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class VoucherValidateView(APIView):
    """What a voucher gives, and for which basket; 409 if it cannot be used now."""

    permission_classes = [HasScope]
    required_scope = "vouchers:read"

    @extend_schema(
        request=VoucherCodeSerializer,
        responses={200: VoucherOutSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "Check a voucher against a basket",
                request_only=True,
                value={"code": CODE_EXAMPLE, "basket_total_ore": 64900},
            )
        ],
        tags=["vouchers"],
    )
    def post(self, request: Request) -> Response:
        data = _validated(VoucherCodeSerializer, request)
        api_client_store(request, data.get("store") or None)
        body = catalogue.voucher_validate(
            code=data["code"], basket_total_ore=data.get("basket_total_ore")
        )
        return Response(VoucherOutSerializer(body).data)


class VoucherRedeemView(APIView):
    """Use a voucher: exactly once. A retry with the same key gets the same answer."""

    permission_classes = [HasScope]
    required_scope = "vouchers:write"

    @extend_schema(
        request=VoucherRedeemSerializer,
        responses={200: VoucherOutSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "Redeem at the till",
                request_only=True,
                value={
                    "code": CODE_EXAMPLE,
                    "idempotency_key": "K1-20260315-0042-v1",
                    "basket_total_ore": 64900,
                    "reference": "K1-20260315-0042",
                },
            )
        ],
        tags=["vouchers"],
    )
    def post(self, request: Request) -> Response:
        data = _validated(VoucherRedeemSerializer, request)
        store = api_client_store(request, data.get("store") or None)
        body = catalogue.voucher_redeem(
            code=data["code"],
            store=store,
            idempotency_key=store_idempotency_key(store_id=store.pk, key=data["idempotency_key"]),
            basket_total_ore=data.get("basket_total_ore"),
            reference=data["reference"],
        )
        return Response(VoucherOutSerializer(body).data)


class VoucherListView(APIView):
    """A member's usable vouchers (issued, not expired), soonest expiry first."""

    permission_classes = [HasScope]
    required_scope = "vouchers:read"

    @extend_schema(
        request=VoucherListInputSerializer,
        responses={200: VoucherListOutSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "By membership number",
                request_only=True,
                value={"member": {"membership_number": "4711000011"}},
            )
        ],
        tags=["vouchers"],
    )
    def post(self, request: Request) -> Response:
        data = _validated(VoucherListInputSerializer, request)
        member = selectors.member_for_points(member_identifiers(data["member"]))
        vouchers = catalogue.vouchers_usable(member=member)
        body = {
            "membership_number": member.membership_number,
            "vouchers": [catalogue.voucher_body(v) for v in vouchers],
        }
        return Response(VoucherListOutSerializer(body).data)
