"""``/mina-sidor/nytt/?efter=<cursor>``: the member's own news since the cursor, as JSON, for
the open Mina sidor and points pages (rewards.live, docs/member-pages.md "Live updates")."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from members.models import Member
from members.views import member_required
from rewards.live import LIVE_CHALLENGES, live_challenges, live_news

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
    wanted = request.GET.get("utmaningar", "")
    parts = wanted.split(",") if wanted else []
    if len(parts) > LIVE_CHALLENGES or not all(p.isascii() and p.isdigit() for p in parts):
        return JsonResponse(
            {
                "error": _("?utmaningar= takes up to %(n)s challenge numbers separated by commas.")
                % {"n": LIVE_CHALLENGES}
            },
            status=400,
        )
    news = live_news(member=member, after=int(raw))
    body = {"cursor": news.cursor, "events": news.events, "balance": news.balance}
    if parts:
        body["challenges"] = live_challenges(
            member=member, challenge_ids=[int(p) for p in parts if int(p) <= _CURSOR_MAX]
        )
    return JsonResponse(body)
