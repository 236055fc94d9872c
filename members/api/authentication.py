"""API-key authentication for tills and the web shop.

Header: ``Authorization: Api-Key kk_<prefix>_<secret>``. The prefix finds the key; the
secret's SHA-256 must match (compared in constant time). A revoked key fails at once.
"""

from __future__ import annotations

import datetime
import hmac
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from members.models import ApiKey
from members.selectors import api_key_by_prefix
from members.services import API_KEY_PREFIX, api_key_hash, api_key_touch

KEYWORD = "Api-Key"
# ``api_key_touch`` writes at most once a minute per key; the row just loaded tells whether
# this request would write at all, so a busy till costs no UPDATE round trip in between.
TOUCH_INTERVAL = datetime.timedelta(minutes=1)


class ApiClient(AnonymousUser):
    """The request's ``user`` for an integration: no login, only its key's store and scopes."""

    def __init__(self, key: ApiKey) -> None:
        super().__init__()
        self.api_key = key
        self.store = key.store

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(KEYWORD + " "):
            return None
        raw = header[len(KEYWORD) + 1 :].strip()
        parts = raw.split("_", 2)
        if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
            raise exceptions.AuthenticationFailed(_("Malformed API key."))
        _kk, prefix, secret = parts
        key = api_key_by_prefix(prefix)
        if key is None or not hmac.compare_digest(key.secret_hash, api_key_hash(secret)):
            raise exceptions.AuthenticationFailed(_("Invalid API key."))
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This API key has been revoked."))
        now = timezone.now()
        if key.last_used_at is None or key.last_used_at < now - TOUCH_INTERVAL:
            api_key_touch(key=key, now=now)
        return ApiClient(key), key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "members.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key kk_<prefix>_<secret>`; one key per integration and store.",
        }
