"""Request-wide guards.

``RejectNulMiddleware``: refuse a NUL character anywhere in a request's path, query or form
fields. PostgreSQL cannot store or compare text holding NUL (``\\x00``), so such input would
fail deep inside a query. It is never meaningful input: 400 before any view runs, JSON under
``/api/``. (JSON bodies are checked by ``members.api.parsers``.)

``NoStoreMiddleware``: no browser or proxy keeps a copy of a page or API answer that carries
a member's data (``Cache-Control: no-store``; docs/configuration.md "Caching").
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.cache import add_never_cache_headers
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


# Every answer under these paths is about one member or their login: "My pages" and below
# (card, points, vouchers, offers, my data, exports), the API (member summaries, balances,
# vouchers, consents), allauth's account pages, and the emailed erasure and unsubscribe links.
NO_STORE_PREFIXES = ("/mina-sidor/", "/api/v1/", "/konto/", "/radera/", "/avregistrera/")


class NoStoreMiddleware:
    """``Cache-Control: no-store`` (Django's ``never_cache`` headers) on every answer under
    ``NO_STORE_PREFIXES``, whatever its status, and on any other answer to a logged-in user
    that does not choose its own caching (the page may greet them by name). Answers that
    set ``Cache-Control`` outside those paths keep it: the manifest, ``sw.js`` and the admin
    (``never_cache`` already). Static files never get here (WhiteNoise answers first).

    The service worker's offline copy of the card is unaffected: it stores the card page in
    the Cache Storage API (``cache.put``), which ignores HTTP caching headers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(NO_STORE_PREFIXES) or (
            not response.has_header("Cache-Control") and _logged_in(request)
        ):
            add_never_cache_headers(response)
        return response


def _logged_in(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)
