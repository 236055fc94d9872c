"""Least privilege for logins (docs/roles.md, docs/security.md): only a superuser grants
superuser status or touches a superuser's account; others grant only groups within their
own permissions."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from members.models import User
from members.roles import ADMINISTRATOR, STORE_STAFF
from tests import factories

pytestmark = pytest.mark.django_db


def _change_data(client, user: User, **overrides: Any) -> dict[str, Any]:
    """The user's change form as the admin renders it, with ``overrides`` typed in."""
    url = reverse("admin:members_user_change", args=[user.pk])
    form = client.get(url).context["adminform"].form
    data: dict[str, Any] = {}
    for name in form.fields:
        value = form.initial.get(name)
        if name in ("last_login", "date_joined"):
            local = value.astimezone() if value else None
            data[f"{name}_0"] = local.strftime("%Y-%m-%d") if local else ""
            data[f"{name}_1"] = local.strftime("%H:%M:%S") if local else ""
        elif name == "groups":
            data[name] = [g.pk for g in value or []]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None and name != "password":
            data[name] = value
    for name, value in overrides.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def test_administrator_cannot_make_themselves_superuser(client):
    # Given an Administrator who is not a superuser
    admin = factories.staff_user(role=ADMINISTRATOR)
    client.force_login(admin)

    # When they save their own user with "superuser status" ticked
    url = reverse("admin:members_user_change", args=[admin.pk])
    response = client.post(url, _change_data(client, admin, is_superuser="on"))

    # Then the save goes through for the rest, but they are no superuser
    assert response.status_code == 302
    admin.refresh_from_db()
    assert not admin.is_superuser


def test_administrator_cannot_change_a_superusers_login(client):
    # Given a superuser, and an Administrator who is not one
    root = factories.staff_user(email="root@example.se", superuser=True)
    admin = factories.staff_user(role=ADMINISTRATOR)
    client.force_login(admin)

    # When the Administrator tries to take over the superuser's login
    change = client.post(
        reverse("admin:members_user_change", args=[root.pk]),
        {"email": "attacker@example.se", "is_active": "on", "is_staff": "on"},
    )
    password = client.post(
        reverse("admin:auth_user_password_change", args=[root.pk]),
        {"password1": "Takeover-Secret-42", "password2": "Takeover-Secret-42"},
    )

    # Then both are refused and nothing changed
    assert change.status_code == 403
    assert password.status_code == 403
    root.refresh_from_db()
    assert root.email == "root@example.se"
    assert root.check_password("correct-horse-battery")


def test_superuser_can_grant_superuser(client):
    root = factories.staff_user(superuser=True)
    colleague = factories.staff_user(role=ADMINISTRATOR)
    client.force_login(root)

    url = reverse("admin:members_user_change", args=[colleague.pk])
    response = client.post(url, _change_data(client, colleague, is_superuser="on"))

    assert response.status_code == 302
    colleague.refresh_from_db()
    assert colleague.is_superuser


def test_staff_grant_only_groups_within_their_own_permissions(client):
    # Given a helpdesk login that may change users but holds few permissions itself
    helpdesk = Group.objects.create(name="Helpdesk")
    helpdesk.permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["members", "auth"],
            codename__in=["view_user", "change_user", "view_group"],
        )
    )
    clerk = factories.staff_user(email="clerk@example.se")
    clerk.groups.add(helpdesk)
    client.force_login(clerk)
    url = reverse("admin:members_user_change", args=[clerk.pk])
    administrators = Group.objects.get(name=ADMINISTRATOR)

    # When they add themselves to the Administrator group
    response = client.post(
        url, _change_data(client, clerk, groups=[helpdesk.pk, administrators.pk])
    )

    # Then the form refuses it, next to the groups
    assert response.status_code == 200
    assert "groups" in response.context["adminform"].form.errors
    assert not clerk.groups.filter(name=ADMINISTRATOR).exists()


def test_administrator_gives_a_new_colleague_a_role(client):
    admin = factories.staff_user(role=ADMINISTRATOR)
    newcomer = factories.staff_user(email="ny@example.se")
    client.force_login(admin)
    url = reverse("admin:members_user_change", args=[newcomer.pk])
    store_staff = Group.objects.get(name=STORE_STAFF)

    response = client.post(url, _change_data(client, newcomer, groups=[store_staff.pk]))

    assert response.status_code == 302
    assert newcomer.groups.filter(name=STORE_STAFF).exists()


def test_administrator_cannot_add_permissions_beyond_their_own_to_a_group(client):
    # Given a login with group editing but not the API-key permissions
    editors = Group.objects.create(name="Role editors")
    editors.permissions.set(
        Permission.objects.filter(
            content_type__app_label="auth", codename__in=["view_group", "change_group"]
        )
    )
    editor = factories.staff_user()
    editor.groups.add(editors)
    client.force_login(editor)
    store_staff = Group.objects.get(name=STORE_STAFF)
    add_key = Permission.objects.get(codename="add_apikey")
    current = list(store_staff.permissions.values_list("pk", flat=True))

    # When they give Store staff the right to create integration keys
    response = client.post(
        reverse("admin:auth_group_change", args=[store_staff.pk]),
        {"name": STORE_STAFF, "permissions": [*current, add_key.pk]},
    )

    # Then it is refused
    assert response.status_code == 200
    assert "permissions" in response.context["adminform"].form.errors
    assert not store_staff.permissions.filter(pk=add_key.pk).exists()
