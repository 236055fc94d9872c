from __future__ import annotations

import itertools
from typing import Any

from allauth.account.models import EmailAddress

from members.models import ApiKey, Member, Store, User
from members.services import api_key_create, member_create

_seq = itertools.count(1)


def store(*, code: str | None = None, kind: str = Store.Kind.STORE, **extra: Any) -> Store:
    n = next(_seq)
    code = code or f"store-{n}"
    obj, _created = Store.objects.get_or_create(
        code=code, defaults={"name": extra.pop("name", f"Butik {n}"), "kind": kind, **extra}
    )
    return obj


def member_with_user(
    *,
    email: str | None = None,
    password: str = "correct-horse-battery",  # noqa: S107
    verified: bool = True,
    **fields: Any,
) -> Member:
    """A member with a login and a verified email address, created through the services."""
    n = next(_seq)
    email = email or f"member{n}@example.se"
    user = User.objects.create_user(email=email, password=password)
    EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
    fields.setdefault("first_name", "Anna")
    fields.setdefault("last_name", f"Svensson{n}")
    return member_create(user=user, **fields)


def api_key_with_secret(
    *, store_obj: Store | None = None, scopes: list[str] | None = None, name: str = "Kassa 1"
) -> tuple[ApiKey, str]:
    return api_key_create(store=store_obj or store(), name=name, scopes=scopes or ["members:read"])


def staff_user(
    *, email: str | None = None, role: str | None = None, superuser: bool = False
) -> User:
    """A back-office login, in the named role group (``members.roles``) when given."""
    from django.contrib.auth.models import Group

    n = next(_seq)
    user = User.objects.create_user(
        email=email or f"staff{n}@example.se",
        password="correct-horse-battery",
        is_staff=True,
        is_superuser=superuser,
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user
