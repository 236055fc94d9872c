"""Transactional text messages (activation codes, members.activation) through the club's SMS
provider, the one campaigns' SMS channel uses too (``campaigns.sending.channels``).

Marketing SMS go through campaigns (consent, contact budget, quiet hours). A transactional
message answers something the member just asked for on a page, needs no consent and is
never a campaign. The provider's settings keep their names (``CAMPAIGNS_SMS_*``):

- ``CAMPAIGNS_SMS_BACKEND = "46elks"``: ``POST <CAMPAIGNS_SMS_API_URL>/a1/sms`` with basic auth;
- ``"console"``: the message is logged (development);
- ``"locmem"``: the message is kept in ``outbox`` (tests), like Django's locmem mail.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sms:
    to: str
    text: str
    idempotency_key: str


# The locmem backend's sent messages, in order (tests empty it).
outbox: list[Sms] = []


class SmsTransientError(Exception):
    """The provider could not take the message now (timeout, 5xx, rate limit): try later."""


class SmsRejectedError(Exception):
    """The provider refused the message (a bad number): sending it again will not help."""


def sms_provider_send(*, to: str, text: str, idempotency_key: str) -> str:
    """Hand one message to the provider; returns the provider's id for it."""
    backend = settings.CAMPAIGNS_SMS_BACKEND
    if backend == "locmem":
        outbox.append(Sms(to=to, text=text, idempotency_key=idempotency_key))
        return f"locmem-{len(outbox)}"
    if backend == "console":
        logger.info("SMS to %s: %s", to, text)
        return f"console-{idempotency_key}"
    auth = base64.b64encode(
        f"{settings.CAMPAIGNS_SMS_USERNAME}:{settings.CAMPAIGNS_SMS_PASSWORD}".encode()
    ).decode()
    try:
        response = httpx.post(
            settings.CAMPAIGNS_SMS_API_URL.rstrip("/") + "/a1/sms",
            data={"from": settings.CAMPAIGNS_SMS_FROM, "to": to, "message": text},
            headers={
                "Authorization": f"Basic {auth}",
                # 46elks ignores it; kept so that logs and proxies can correlate retries.
                "Idempotency-Key": idempotency_key,
            },
            timeout=settings.CAMPAIGNS_SMS_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as error:
        raise SmsTransientError(str(error)) from error
    if response.status_code == 429 or response.status_code >= 500:
        raise SmsTransientError(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise SmsRejectedError(response.text[:200])
    body: dict[str, Any] = response.json()
    return str(body.get("id", ""))
