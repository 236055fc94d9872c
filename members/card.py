"""The digital membership card: what its QR code says and how a till reads it back.

The QR code holds the member's card token signed with the site's secret key, so a till can
reject a tampered or made-up code without a database look-up, and a leaked screenshot is
revoked by rotating the token (``members.services.card_token_rotate``).
"""

from __future__ import annotations

import segno
from django.core import signing

from members.errors import InvalidCardTokenError
from members.models import Member

CARD_SALT = "members.card.v1"
# The QR mask pattern, fixed: segno otherwise draws all eight and scores each (ISO 18004's
# penalty rules), 5-6 ms of pure Python on every card page against about 1.5 ms for one.
# Any mask is a valid code that every reader decodes; pattern 2 is the one segno's scoring
# picks for most card payloads anyway.
QR_MASK = 2
CARD_PREFIX = "KK1:"


def card_qr_payload(member: Member) -> str:
    return CARD_PREFIX + signing.Signer(salt=CARD_SALT).sign(member.card_token)


def card_token_from_payload(payload: str) -> str:
    """The card token inside a scanned QR payload; raises ``InvalidCardTokenError``."""
    text = (payload or "").strip()
    if not text.startswith(CARD_PREFIX) or len(text) > 200:
        raise InvalidCardTokenError()
    try:
        return signing.Signer(salt=CARD_SALT).unsign(text.removeprefix(CARD_PREFIX))
    except signing.BadSignature as exc:
        raise InvalidCardTokenError() from exc


def card_qr_svg(member: Member, *, title: str = "") -> str:
    """The QR code as inline SVG, drawn on the server: no script, works offline."""
    qr = segno.make(card_qr_payload(member), error="m", mask=QR_MASK)
    return qr.svg_inline(scale=6, border=2, dark="#111111", light="#ffffff", title=title or None)
