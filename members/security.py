"""Who is logging in, and from where: the two keys of the login limits (docs/security.md).

django-axes and allauth's rate limits must count the same client, so both take its address
from allauth's adapter, which honours ``ALLAUTH_TRUSTED_PROXY_COUNT`` and
``ALLAUTH_TRUSTED_CLIENT_IP_HEADER`` (set from ``TRUSTED_PROXY_COUNT`` and
``TRUSTED_CLIENT_IP_HEADER``): behind the proxy, the client, never the proxy itself.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as the trusted proxies report it (``AXES_CLIENT_IP_CALLABLE``);
    None for a request without one (a log-out made in code, not over HTTP)."""
    try:
        return get_adapter(request).get_client_ip(request)
    except PermissionDenied:
        return None


def login_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The account a login attempt is for (``AXES_USERNAME_CALLABLE``), whichever form sent it:
    allauth's member log-in passes ``email``, the back-office log-in ``username``. Case and
    spaces do not make a new account to guess against."""
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username")
    if not value:
        value = request.POST.get("login") or request.POST.get("username")
    return str(value).strip().lower() if value else None
