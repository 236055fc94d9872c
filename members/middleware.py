"""Refuse a NUL character anywhere in a request's path, query or form fields.

PostgreSQL cannot store or compare text holding NUL (``\\x00``), so such input would fail
deep inside a query. It is never meaningful input: 400 before any view runs, JSON under
``/api/``. (JSON bodies are checked by ``members.api.parsers``.)
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.translation import gettext as _

NUL = "\x00"


def _has_nul(request: HttpRequest) -> bool:
    if NUL in request.path:
        return True
    for values in (request.GET,):
        if any(NUL in k or any(NUL in v for v in values.getlist(k)) for k in values):
            return True
    content_type = request.content_type or ""
    if request.method == "POST" and content_type in {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }:
        return any(NUL in k or any(NUL in v for v in request.POST.getlist(k)) for k in request.POST)
    return False


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            message = _("The request contains a character that is not allowed (NUL).")
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"error": {"code": "nul_character", "message": message}}, status=400
                )
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
