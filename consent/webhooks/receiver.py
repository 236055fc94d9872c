"""The receiver helper docs/webhooks.md publishes ("Verifying a webhook"), verbatim.

An integrator copies it; the tests verify every delivery with it, so what the docs show is
what works. It needs only the ``standardwebhooks`` package.
"""

from __future__ import annotations

from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


class InvalidWebhook(Exception):
    """The request was not signed by the club with a secret you hold, or is too old."""


def webhook_verify(body: bytes, headers: dict[str, str], secrets: list[str]) -> Any:
    """The event (parsed JSON) if ``body`` and ``headers`` are a genuine, fresh delivery.

    ``body`` are the raw request bytes, exactly as received (never re-serialised JSON);
    ``headers`` the request headers; ``secrets`` your ``whsec_...`` secrets (two while you
    rotate). A timestamp more than 5 minutes off is refused, so a recorded request cannot be
    replayed later. Deduplicate on ``headers["webhook-id"]``: a retry carries the same id.
    """
    for secret in secrets:
        try:
            return Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            continue
    raise InvalidWebhook("signature or timestamp not valid")
