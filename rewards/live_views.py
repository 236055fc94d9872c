"""``/mina-sidor/nytt/?efter=<cursor>``: the member's own news since the cursor, as JSON, for
the open Mina sidor and points pages (rewards.live, docs/member-pages.md "Live updates")."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from members.models import Member
from members.selectors import member_resolve
from rewards.live import live_news

# A cursor is an event id: a bigint.
_CURSOR_MAX = 2**63 - 1


def _member(request: HttpRequest) -> Member | None:
    """The logged-in member (a merged one's survivor), or None: as members.views does."""
    member = getattr(request.user, "member", None)
    if member is not None and member.merged_into_id is not None:
        member = member_resolve(member)
    if member is None or member.is_erased:
        return None
    return member


@require_GET
@never_cache  # private, no-store: never kept by a browser or a proxy
def live(request: HttpRequest) -> HttpResponse:
    """A poll, not a push: 401 (not a redirect to the login page) when logged out, so the
    page's script stops asking; 403 for a login without an active membership."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": _("Log in to see your points.")}, status=401)
    member = _member(request)
    if member is None:
        return JsonResponse({"error": _("This login has no active membership.")}, status=403)
    raw = request.GET.get("efter", "")
    if not raw.isascii() or not raw.isdigit() or int(raw) > _CURSOR_MAX:
        return JsonResponse(
            {"error": _("The address must end in ?efter= and a whole number, such as ?efter=0.")},
            status=400,
        )
    news = live_news(member=member, after=int(raw))
    return JsonResponse({"cursor": news.cursor, "events": news.events, "balance": news.balance})
