"""Who acts in a request, typed for the services' ``actor`` and ``staff`` arguments.

``request.user`` is a ``User`` or an ``AnonymousUser`` (an API key's request, a logged-out
visitor); services record an actor only for a real user.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from members.models import User


def request_actor(request: HttpRequest) -> User | None:
    """The logged-in user, for the audit fields of what they do; None for anyone else."""
    return request.user if isinstance(request.user, User) else None


def request_staff(request: HttpRequest) -> User:
    """The staff user of a back-office request (the admin lets only them in)."""
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user
