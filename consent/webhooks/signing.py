"""Secrets and signatures (Standard Webhooks: ``webhook-id``, ``webhook-timestamp``,
``webhook-signature``, HMAC-SHA256 over ``<id>.<timestamp>.<body>``).

A secret is ``whsec_`` and 32 random bytes in base64. While a rotated-out secret is still in
its overlap period, every request carries two signatures separated by a space (the new one
first); a receiver with either secret accepts it.
"""

from __future__ import annotations

import base64
import datetime
import secrets

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(
    *, msg_id: str, body: bytes, secrets_: list[str], now: datetime.datetime
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, signed with every secret given."""
    signatures = [Webhook(s).sign(msg_id=msg_id, timestamp=now, data=body) for s in secrets_]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
