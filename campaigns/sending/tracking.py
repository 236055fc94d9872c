"""Opens and clicks, from the signed tokens in sent messages."""

from __future__ import annotations

from django.core import signing
from django.utils import timezone

from campaigns.models import (
    Delivery,
)
from campaigns.sending import rendering
from members.errors import NotFoundError


def delivery_opened(*, token: str) -> None:
    """The open pixel: record the first open. Bad tokens are ignored (it is an image)."""
    try:
        delivery_id = signing.loads(token, salt=rendering.OPEN_SALT)
    except signing.BadSignature:
        return
    Delivery.objects.filter(pk=delivery_id, opened_at__isnull=True).update(opened_at=timezone.now())


def delivery_clicked(*, token: str) -> str:
    """A tracked link: record the first click (and the open it implies); return the target."""
    try:
        delivery_id, url = signing.loads(token, salt=rendering.CLICK_SALT)
    except (signing.BadSignature, ValueError, TypeError) as error:
        raise NotFoundError() from error
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise NotFoundError()
    now = timezone.now()
    Delivery.objects.filter(pk=delivery_id, clicked_at__isnull=True).update(clicked_at=now)
    Delivery.objects.filter(pk=delivery_id, opened_at__isnull=True).update(opened_at=now)
    return url
