"""The door poster: a store's QR code that members scan with their phone's camera to check
in, without an app (docs/desk.md, "Door check-in").

The code opens ``/in/<token>/`` on the club's site. The token names the store and its door
key, signed with the site's secret key: a made-up or altered token is refused without a
database look-up, and rotating the store's key (``store_door_key_rotate``) makes every
printed poster of that store stop working at once.
"""

from __future__ import annotations

import segno
from django.core import signing
from django.urls import reverse
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, override

from members.errors import DomainError
from members.models import Store

DOOR_SALT = "members.door.v1"


class InvalidDoorTokenError(DomainError):
    code = "invalid_door_code"
    status = 404
    default_message = gettext_lazy(
        "This door code is not valid. Ask the staff in the store for help."
    )


class OldDoorTokenError(DomainError):
    code = "old_door_code"
    status = 410
    default_message = gettext_lazy(
        "This poster is no longer in use. Ask the staff for the new one."
    )


def store_door_token(store: Store) -> str:
    return signing.Signer(salt=DOOR_SALT).sign(f"{store.pk}.{store.door_key}")


def store_door_path(store: Store) -> str:
    return reverse("campaigns:door", args=[store_door_token(store)])


def store_from_door_token(token: str) -> Store:
    """The store behind a scanned door code: ``InvalidDoorTokenError`` for a forged or
    malformed one, ``OldDoorTokenError`` for one whose key was rotated or whose store is no
    longer open."""
    if not token or len(token) > 200:
        raise InvalidDoorTokenError()
    try:
        value = signing.Signer(salt=DOOR_SALT).unsign(token)
    except signing.BadSignature as exc:
        raise InvalidDoorTokenError() from exc
    store_id, _sep, key = value.partition(".")
    store = Store.objects.filter(pk=int(store_id) if store_id.isdigit() else 0).first()
    if store is None or store.door_key != key or store.status != Store.Status.OPEN:
        raise OldDoorTokenError()
    return store


def door_poster_svg(store: Store, *, base_url: str) -> str:
    """A printable A4 poster (SVG, 210 x 297 mm): the store's name, the QR code of its door
    URL and a line in Swedish and in English. No fonts or images from anywhere else."""
    url = base_url.rstrip("/") + store_door_path(store)
    qr = segno.make(url, error="q")
    size = qr.symbol_size(scale=1, border=0)[0]
    module = 150 / size  # the code is 150 mm wide
    paths = []
    for row_no, row in enumerate(qr.matrix):
        for col_no, dark in enumerate(row):
            if dark:
                x, y = 30 + col_no * module, 80 + row_no * module
                paths.append(f"M{x:.3f} {y:.3f}h{module:.3f}v{module:.3f}h-{module:.3f}z")
    with override("sv"):
        sv = _("Scan with your phone's camera to check in")
    with override("en"):
        en = _("Scan with your phone's camera to check in")
    with override("sv"):
        club = escape(_("Kundklubben"))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" '
        'viewBox="0 0 210 297" role="img">'
        f"<title>{club}: {escape(store.name)}</title>"
        '<rect width="210" height="297" fill="#ffffff"/>'
        f'<text x="105" y="40" font-family="sans-serif" font-size="14" font-weight="bold" '
        f'text-anchor="middle" fill="#111111">{club}</text>'
        f'<text x="105" y="60" font-family="sans-serif" font-size="10" text-anchor="middle" '
        f'fill="#111111">{escape(store.name)}</text>'
        f'<path fill="#111111" d="{"".join(paths)}"/>'
        f'<text x="105" y="255" font-family="sans-serif" font-size="8" text-anchor="middle" '
        f'fill="#111111">{escape(sv)}</text>'
        f'<text x="105" y="267" font-family="sans-serif" font-size="7" text-anchor="middle" '
        f'fill="#444444">{escape(en)}</text>'
        "</svg>"
    )
