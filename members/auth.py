"""The logged-in user and their membership in one query (issue 12, docs/benchmarks.md
"Member pages").

Every logged-in request loads the user from the session's user id (the authentication
backend's ``get_user``), and every member page then reads ``user.member``: two queries. The
backends here load the user with its member joined (``select_related``), so
``request.user.member`` costs nothing more. They are Django's and allauth's backends with
only ``get_user`` changed; authentication, permissions and Django's session verification
(the password hash in the session) are theirs, unchanged.

A session remembers the path of the backend that logged it in. Sessions made before these
backends replaced Django's and allauth's name those; ``AuthenticationMiddleware`` here
renames them on their next request instead of logging their members out.
"""

from __future__ import annotations

from typing import Any

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthMiddleware
from django.db import connection
from django.http import HttpRequest

from members.models import Member
from members.rows import RowReader, column, fetch_one, relation_cache, table

_USER: RowReader[Any] = RowReader(get_user_model(), "u")
_MEMBER = RowReader(Member, "m")
_SQL: dict[str, str] = {}


def _sql() -> str:
    sql = _SQL.get(connection.alias)
    if sql is None:
        user_model = get_user_model()
        sql = _SQL[connection.alias] = (
            f"SELECT {_USER.layout(connection).select}, {_MEMBER.layout(connection).select} "  # noqa: S608
            f"FROM {table(user_model, connection)} u LEFT JOIN {table(Member, connection)} m "
            f"ON m.{column(Member, 'user', connection)} = u.{column(user_model, 'pk', connection)} "
            f"WHERE u.{column(user_model, 'pk', connection)} = %s"
        )
    return sql


def user_with_member(backend: DjangoModelBackend, user_id: Any) -> Any:
    """``ModelBackend.get_user`` with the member (``None`` for staff) in the same row: the
    same as ``User._default_manager.select_related("member").get(pk=user_id)``, written
    once per process (members.rows) instead of compiled by the ORM on every request."""
    try:
        pk = get_user_model()._meta.pk.to_python(user_id)
    except Exception:  # a session with a user id that is no id: nobody
        return None
    row = fetch_one(_sql(), [pk])
    if row is None:
        return None
    user = _USER.build(row, 0, connection)
    assert user is not None
    member = _MEMBER.build(row, _USER.width, connection)
    relation_cache(user, "member", member)
    if member is not None:
        relation_cache(member, "user", user)
    return user if backend.user_can_authenticate(user) else None


class ModelBackend(DjangoModelBackend):
    def get_user(self, user_id: Any) -> Any:
        return user_with_member(self, user_id)


class AuthenticationBackend(AllauthBackend):
    def get_user(self, user_id: Any) -> Any:
        return user_with_member(self, user_id)


# Backend paths stored by sessions logged in before this module's backends, and their heirs.
LEGACY_BACKENDS = {
    "django.contrib.auth.backends.ModelBackend": "members.auth.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend": "members.auth.AuthenticationBackend",
}


class AuthenticationMiddleware(DjangoAuthMiddleware):
    """Django's, renaming a legacy backend path in the session first (see above)."""

    def process_request(self, request: HttpRequest) -> None:
        session = getattr(request, "session", None)
        if session is not None and session.session_key:
            heir = LEGACY_BACKENDS.get(session.get(BACKEND_SESSION_KEY, ""))
            if heir is not None:
                session[BACKEND_SESSION_KEY] = heir
        super().process_request(request)
