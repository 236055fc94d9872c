"""Member pages the phone keeps for offline use (docs/member-pages.md "Offline and install").

A view decorated with :func:`offline_copy` answers with the header ``Kundklubb-Offline-Copy``,
whose value stands for the member (a keyed hash, not their id). The service worker
(members/templates/members/sw.js) keeps the last copy of such a page in the phone's Cache
Storage and shows it when the network is gone. When the value changes (another member logged
in on the same phone) it throws away every copy first, and logging out throws them away too:
the copies are personal and only ever on the member's own device.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.crypto import salted_hmac

from members.models import Member

OFFLINE_HEADER = "Kundklubb-Offline-Copy"
_SALT = "members.offline.copy"


def offline_member_key(member: Member) -> str:
    """Who the copies belong to, as the service worker compares it: stable for a member,
    says nothing about them."""
    return salted_hmac(_SALT, str(member.pk), algorithm="sha256").hexdigest()[:24]


def offline_copy(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Mark a member page (after ``member_required``, which sets ``request.member``) as one
    the service worker may keep for offline use. Only plain 200 answers are kept."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        member = getattr(request, "member", None)
        if member is not None and response.status_code == 200:
            response[OFFLINE_HEADER] = offline_member_key(member)
        return response

    return wrapped
