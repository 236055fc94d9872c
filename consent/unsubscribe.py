"""One-click unsubscribe for every marketing message (campaigns call these when sending).

``unsubscribe_url`` gives the signed link for the message body; ``unsubscribe_headers`` the
RFC 8058 headers for emails, so mail clients can offer their own unsubscribe button, which
POSTs ``List-Unsubscribe=One-Click`` to the same URL without cookies.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from consent.services.unsubscribe import unsubscribe_token_make
from members.models import Member


def unsubscribe_url(*, member: Member, purpose: str, channel: str) -> str:
    token = unsubscribe_token_make(member=member, purpose=purpose, channel=channel)
    return settings.SITE_URL.rstrip("/") + reverse("consent:unsubscribe", args=[token])


def unsubscribe_headers(url: str) -> dict[str, str]:
    """``List-Unsubscribe`` and ``List-Unsubscribe-Post`` (RFC 2369, RFC 8058)."""
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
