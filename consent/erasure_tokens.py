"""The signed link that confirms an erasure request (mailed; read by privacy_erasure_confirm)."""

from __future__ import annotations

from django.core import signing

from consent.models import PrivacyRequest

ERASURE_SALT = "consent.erasure-confirm"


def erasure_confirm_token(request: PrivacyRequest) -> str:
    return signing.dumps({"r": request.pk, "m": request.member_id}, salt=ERASURE_SALT)
