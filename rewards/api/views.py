"""The till and web-shop API: parse, authorise (scope + own store), call one service, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.fields import DateTimeField
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from members.api.permissions import HasScope, api_client_store
from members.api.serializers import ErrorSerializer
from members.models import Store
from rewards import selectors
from rewards.api import serializers as s
from rewards.ledger.idempotency import store_idempotency_key
from rewards.ledger.points import points_redeem
from rewards.ledger.reservations import points_reserve, reservation_capture, reservation_release
from rewards.models import LedgerEntry
from rewards.purchases.recording import purchase_record_for_till
from rewards.purchases.returns import purchase_return
from rewards.purchases.types import LineInput, PurchaseResult
from rewards.rules.events import checkin_record

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input (`invalid_input`, ...)"),
    401: OpenApiResponse(ErrorSerializer, description="Missing or invalid API key"),
    403: OpenApiResponse(
        ErrorSerializer,
        description="Missing scope, or the body names a store not the key's own (`wrong_store`)",
    ),
    404: OpenApiResponse(
        ErrorSerializer,
        description="`unknown_member`, `unknown_receipt`, `unknown_reservation`, ...; another "
        "store's receipt or reservation is not found either, exactly like an unknown id",
    ),
    409: OpenApiResponse(
        ErrorSerializer,
        description="`insufficient_points`, `*_conflict`, ...; `ambiguous_member` when the "
        "member is named by a phone number several members share (`details.membership_numbers`"
        " lists them: name the member by membership number or card instead)",
    ),
}
MEMBER_EXAMPLE = {"membership_number": "4711000011"}


def _validated(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _store(request: Request, data: dict[str, Any]) -> Store:
    return api_client_store(request, data.get("store") or None)


def _replay_header(replayed: bool) -> dict[str, str]:
    """A replay gets the identical status and body; this header tells the till it was one."""
    return {"Idempotent-Replayed": "true"} if replayed else {}


def purchase_body(result: PurchaseResult) -> dict[str, Any]:
    purchase = result.purchase
    return {
        "purchase_id": purchase.pk,
        "store": purchase.store.code,
        "receipt_id": purchase.receipt_id,
        "membership_number": result.member_number,
        "total_ore": purchase.total_ore,
        "purchased_at": purchase.purchased_at,
        "points": {
            "earned": purchase.points_earned if result.member_number else 0,
            "available_at": purchase.points_available_at,
            "explanation": [
                {"points": part["points"], "sv": part["sv"], "en": part["en"]}
                for part in purchase.explanation
            ]
            if result.member_number
            else [],
        },
        "lines": [
            {
                "line_no": line.line_no,
                "sku": line.sku,
                "quantity": line.quantity,
                "points": line.points if result.member_number else 0,
            }
            for line in result.lines
        ],
    }


# The till's hot path renders the body PurchaseOutSerializer documents without running the
# serializer's per-field machinery (about 0.15 ms a purchase): purchase_body already holds
# ints and strings; only the two datetimes need DRF's rendering, through the same field
# class. A test keeps the two identical.
_DATETIME = DateTimeField()


def purchase_out(result: PurchaseResult) -> dict[str, Any]:
    body = purchase_body(result)
    body["purchased_at"] = _DATETIME.to_representation(body["purchased_at"])
    points = body["points"]
    if points["available_at"] is not None:
        points["available_at"] = _DATETIME.to_representation(points["available_at"])
    return body


class PurchaseView(APIView):
    """Record a purchase (till receipt or web-shop order) and earn its points."""

    permission_classes = [HasScope]
    required_scope = "purchases:write"

    @extend_schema(
        request=s.PurchaseInputSerializer,
        responses={
            201: s.PurchaseOutSerializer,
            **ERRORS,
        },
        examples=[
            OpenApiExample(
                "Receipt with two lines",
                request_only=True,
                value={
                    "receipt_id": "K1-20260315-0042",
                    "member": MEMBER_EXAMPLE,
                    "total_ore": 129800,
                    "purchased_at": "2026-03-15T14:02:11+01:00",
                    "lines": [
                        {
                            "sku": "RUN-123",
                            "name": "Löparsko",
                            "category": "loparskor",
                            "quantity": 1,
                            "unit_price_ore": 119900,
                        },
                        {
                            "sku": "SOCK-9",
                            "quantity": 2,
                            "unit_price_ore": 4950,
                            "vat_rate_bp": 2500,
                        },
                    ],
                },
            ),
        ],
        tags=["purchases"],
    )
    def post(self, request: Request) -> Response:
        data = s.purchase_input_fast(request.data) or _validated(s.PurchaseInputSerializer, request)
        store = _store(request, data)
        result = purchase_record_for_till(
            store=store,
            receipt_id=data["receipt_id"],
            member_identifiers=s.member_identifiers(data["member"]) if data.get("member") else None,
            total_ore=data["total_ore"],
            purchased_at=data.get("purchased_at"),
            lines=[
                LineInput(
                    sku=line["sku"],
                    quantity=line["quantity"],
                    unit_price_ore=line["unit_price_ore"],
                    discount_ore=line["discount_ore"],
                    name=line["name"],
                    category=line["category"],
                    vat_rate_bp=line.get("vat_rate_bp"),
                )
                for line in data["lines"]
            ],
        )
        body = purchase_out(result)
        return Response(body, status=201, headers=_replay_header(not result.created))


class ReturnView(APIView):
    """Return a whole purchase or some of its lines; points are reversed pro rata."""

    permission_classes = [HasScope]
    required_scope = "purchases:write"

    @extend_schema(
        request=s.ReturnInputSerializer,
        responses={201: s.ReturnOutSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "One of two socks back",
                request_only=True,
                value={"return_id": "RET-77", "lines": [{"line_no": 2, "quantity": 1}]},
            )
        ],
        tags=["purchases"],
    )
    def post(self, request: Request, receipt_id: str) -> Response:
        data = _validated(s.ReturnInputSerializer, request)
        store = _store(request, data)
        lines = data.get("lines")
        ret, created = purchase_return(
            store=store,
            receipt_id=receipt_id,
            return_id=data["return_id"],
            lines=[(line["line_no"], line["quantity"]) for line in lines] if lines else None,
        )
        body = {
            "return_id": ret.return_id,
            "receipt_id": receipt_id,
            "points_reversed": ret.points_reversed,
            "points_unrecovered": ret.points_unrecovered,
            "lines": ret.lines,
        }
        return Response(
            s.ReturnOutSerializer(body).data, status=201, headers=_replay_header(not created)
        )


class RedeemView(APIView):
    """Spend points in one step (simple checkouts)."""

    permission_classes = [HasScope]
    required_scope = "points:write"

    @extend_schema(
        request=s.RedeemInputSerializer,
        responses={200: s.RedeemOutSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "Redeem 500 points",
                request_only=True,
                value={"member": MEMBER_EXAMPLE, "points": 500, "idempotency_key": "K1-9f3a"},
            )
        ],
        tags=["points"],
    )
    def post(self, request: Request) -> Response:
        data = _validated(s.RedeemInputSerializer, request)
        store = _store(request, data)
        member = selectors.member_for_points(s.member_identifiers(data["member"]))
        result = points_redeem(
            member=member,
            points=data["points"],
            idempotency_key=store_idempotency_key(store_id=store.pk, key=data["idempotency_key"]),
            store=store,
            reference=data["reference"],
        )
        return Response(s.RedeemOutSerializer(result).data)


class ReservationView(APIView):
    """Reserve points for a basket; capture or release them within the timeout."""

    permission_classes = [HasScope]
    required_scope = "points:write"

    @extend_schema(
        request=s.ReserveInputSerializer,
        responses={201: s.ReservationOutSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "Reserve 300 points for a web-shop order",
                request_only=True,
                value={
                    "member": MEMBER_EXAMPLE,
                    "points": 300,
                    "idempotency_key": "order-1001-reserve",
                    "reference": "order-1001",
                    "timeout_seconds": 900,
                },
            )
        ],
        tags=["points"],
    )
    def post(self, request: Request) -> Response:
        data = _validated(s.ReserveInputSerializer, request)
        store = _store(request, data)
        member = selectors.member_for_points(s.member_identifiers(data["member"]))
        result = points_reserve(
            member=member,
            points=data["points"],
            idempotency_key=store_idempotency_key(store_id=store.pk, key=data["idempotency_key"]),
            store=store,
            reference=data["reference"],
            timeout_seconds=data.get("timeout_seconds"),
        )
        return Response(s.ReservationOutSerializer(result).data, status=201)


class CaptureView(APIView):
    permission_classes = [HasScope]
    required_scope = "points:write"

    @extend_schema(
        request=s.CaptureInputSerializer,
        responses={200: s.ReservationOutSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "Capture 250 of 300 reserved points",
                request_only=True,
                value={"points": 250, "idempotency_key": "order-1001-capture"},
            )
        ],
        tags=["points"],
        summary="Spend reserved points (at most the reserved amount); the rest is released",
    )
    def post(self, request: Request, reservation_id: int) -> Response:
        data = _validated(s.CaptureInputSerializer, request)
        store = _store(request, data)
        result = reservation_capture(
            reservation_id=reservation_id,
            points=data["points"],
            idempotency_key=store_idempotency_key(store_id=store.pk, key=data["idempotency_key"]),
            store=store,
        )
        return Response(s.ReservationOutSerializer(result).data)


class ReleaseView(APIView):
    permission_classes = [HasScope]
    required_scope = "points:write"

    @extend_schema(
        request=s.ReleaseInputSerializer,
        responses={200: s.ReservationOutSerializer, **ERRORS},
        tags=["points"],
        summary="Give reserved points back (basket abandoned)",
    )
    def post(self, request: Request, reservation_id: int) -> Response:
        data = _validated(s.ReleaseInputSerializer, request)
        store = _store(request, data)
        result = reservation_release(
            reservation_id=reservation_id,
            idempotency_key=store_idempotency_key(store_id=store.pk, key=data["idempotency_key"]),
            store=store,
        )
        return Response(s.ReservationOutSerializer(result).data)


def entry_body(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "points": entry.points,
        "change": entry.delta_pending + entry.delta_posted,
        "created_at": entry.created_at,
        "store": entry.store.code if entry.store else None,
        "explanation": [
            {"points": p.get("points", 0), "sv": p.get("sv", ""), "en": p.get("en", "")}
            for p in entry.explanation or []
        ],
    }


class BalanceView(APIView):
    """A member's balance and most recent ledger entries."""

    permission_classes = [HasScope]
    required_scope = "points:read"

    @extend_schema(
        request=s.BalanceInputSerializer,
        responses={200: s.BalanceOutSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "By membership number", request_only=True, value={"member": MEMBER_EXAMPLE}
            )
        ],
        tags=["points"],
    )
    def post(self, request: Request) -> Response:
        data = _validated(s.BalanceInputSerializer, request)
        member = selectors.member_for_points(s.member_identifiers(data["member"]))
        body = {
            "membership_number": member.membership_number,
            "balance": selectors.balance_get(member=member),
            "entries": [
                entry_body(e) for e in selectors.ledger_recent(member=member, limit=data["limit"])
            ],
        }
        return Response(s.BalanceOutSerializer(body).data)


class CheckInView(APIView):
    """A member checked in at the door; check-in rules may award points."""

    permission_classes = [HasScope]
    required_scope = "checkins:write"

    @extend_schema(
        request=s.CheckInInputSerializer,
        responses={201: s.CheckInOutSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "Scanned QR at the door",
                request_only=True,
                value={"member": {"card": "KK1:…"}, "idempotency_key": "door-2-000123"},
            )
        ],
        tags=["checkins"],
    )
    def post(self, request: Request) -> Response:
        data = _validated(s.CheckInInputSerializer, request)
        store = _store(request, data)
        member = selectors.member_for_points(s.member_identifiers(data["member"]))
        checkin, entries = checkin_record(
            member=member,
            store=store,
            idempotency_key=store_idempotency_key(store_id=store.pk, key=data["idempotency_key"]),
        )
        body = {"checkin_id": checkin.pk, "points_awarded": sum(e.points for e in entries)}
        return Response(s.CheckInOutSerializer(body).data, status=201)
