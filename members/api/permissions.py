"""Who may call what: integration keys by scope, members only on themselves."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from members.api.authentication import ApiClient
from members.errors import ForbiddenError
from members.models import Store


def api_client(request: Request) -> ApiClient | None:
    user = request.user
    return user if isinstance(user, ApiClient) else None


class WrongStoreError(ForbiddenError):
    code = "wrong_store"
    default_message = _("This API key belongs to another store.")


def api_client_store(request: Request, store: Store | str | None = None) -> Store:
    """The store the calling key acts for. Pass the store named in the request body (object
    or code) to have a key of store A refused when it tries to act for store B."""
    client = api_client(request)
    if client is None:
        raise ForbiddenError(_("Only an integration API key may do this."))
    if store is not None:
        code = store.code if isinstance(store, Store) else store
        if code != client.store.code:
            raise WrongStoreError()
    return client.store


class HasScope(BasePermission):
    """An integration key that carries the view's ``required_scope``."""

    message = "This API key does not have the scope this endpoint needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        client = api_client(request)
        scope = getattr(view, "required_scope", None)
        if client is None or scope is None:
            return False
        if not client.api_key.has_scope(scope):
            self.message = f"This API key lacks the scope '{scope}'."
            return False
        return True


class IsMember(BasePermission):
    """A logged-in person with an active membership (session auth, CSRF-protected)."""

    message = "Log in as a member."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if api_client(request) is not None or not user.is_authenticated:
            return False
        member = getattr(user, "member", None)
        return member is not None and member.erased_at is None
