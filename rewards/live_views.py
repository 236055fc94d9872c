"""``/mina-sidor/nytt/?efter=<cursor>``: the member's own news since the cursor, as JSON, for
the open Mina sidor and points pages (rewards.live, docs/member-pages.md "Live updates")."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from members.models import Member
from members.views import member_required
from rewards.live import live_news

# A cursor is an event id: a bigint.
_CURSOR_MAX = 2**63 - 1


@never_cache  # private, no-store: never kept by a browser or a proxy (the redirects neither)
@member_required
@require_GET
def live(request: HttpRequest) -> HttpResponse:
    """A poll, not a push. Guarded as every member page: logged out, a redirect to the login
    page (the page's script sees the redirect and stops asking); staff without a membership,
    to the back-office."""
    member: Member = request.member  # type: ignore[attr-defined]
    raw = request.GET.get("efter", "")
    if not raw.isascii() or not raw.isdigit() or int(raw) > _CURSOR_MAX:
        return JsonResponse(
            {"error": _("The address must end in ?efter= and a whole number, such as ?efter=0.")},
            status=400,
        )
    news = live_news(member=member, after=int(raw))
    return JsonResponse({"cursor": news.cursor, "events": news.events, "balance": news.balance})
