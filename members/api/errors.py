"""Every API error is JSON with a stable machine code and a human message.

``{"error": {"code": "insufficient_points", "message": "...", "fields": {...}}}``
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from members.api.parsers import NulCharacter, TooDeeplyNested
from members.errors import DomainError

_DRF_CODES = {
    TooDeeplyNested: "too_deeply_nested",
    NulCharacter: "nul_character",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.ParseError: "malformed_json",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ValidationError: "invalid_input",
}


# Codes that serializers give to rules a JSON schema cannot state (one field compared with
# another, a sum over lines, the clock). A 400 whose every field error carries the same one
# of these codes answers with it as its ``code`` instead of ``invalid_input``; the fields'
# descriptions in the OpenAPI schema name them. Every 400 for invalid input also lists the
# distinct codes of its field errors in ``details.codes`` ("required", "max_length", ...).
NAMED_VALIDATION_CODES: set[str] = set()


def named_validation_code(code: str) -> str:
    """Register ``code`` (for ``serializers.ValidationError(..., code=code)``)."""
    NAMED_VALIDATION_CODES.add(code)
    return code


def _leaf_codes(codes: Any) -> set[str]:
    if isinstance(codes, dict):
        return set().union(*(_leaf_codes(v) for v in codes.values())) if codes else set()
    if isinstance(codes, list):
        return set().union(*(_leaf_codes(v) for v in codes)) if codes else set()
    return {str(codes)}


def validation_code(codes: set[str]) -> str:
    """``invalid_input``, or the one named code that every field error carries."""
    if len(codes) == 1 and codes <= NAMED_VALIDATION_CODES:
        return next(iter(codes))
    return "invalid_input"


def error_response(code: str, message: str, status_code: int, **extra: Any) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v not in (None, {}, [])})
    return Response({"error": body}, status=status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return error_response(exc.code, exc.message, exc.status, details=exc.details or None)
    if isinstance(exc, DjangoValidationError):
        fields = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return error_response(
            "invalid_input", "The input is not valid.", status.HTTP_400_BAD_REQUEST, fields=fields
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        fields = (
            response.data
            if isinstance(response.data, dict)
            else {"non_field_errors": response.data}
        )
        codes = _leaf_codes(exc.get_codes())
        return error_response(
            validation_code(codes),
            "The input is not valid.",
            response.status_code,
            fields=fields,
            details={"codes": sorted(codes)},
        )
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
    new = error_response(code, str(detail), response.status_code)
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if header in response:
            new[header] = response[header]
    return new
