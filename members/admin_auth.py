"""The back-office log-in, under the same limits as the members' (docs/security.md).

Django's admin log-in has no limit of its own. Its form authenticates here through allauth's
adapter, so ``ACCOUNT_RATE_LIMITS["login_failed"]`` (per client and per account) counts
back-office attempts too; django-axes' backend, first in ``AUTHENTICATION_BACKENDS``, locks
the account+client combination after ``AXES_FAILURE_LIMIT`` wrong passwords.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter
from django.contrib.admin.forms import AdminAuthenticationForm


class RateLimitedAdminAuthenticationForm(AdminAuthenticationForm):
    def clean(self) -> dict[str, Any]:
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is not None and password:
            # Raises a ValidationError ("too many failed login attempts") once a limit is hit.
            self.user_cache = get_adapter(self.request).authenticate(
                self.request, email=email, password=password
            )
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data
