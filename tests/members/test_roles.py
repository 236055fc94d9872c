"""Staff roles are groups with permissions, created by a data migration (docs/roles.md)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from members.roles import ADMINISTRATOR, DATA_PROTECTION_OFFICER, MARKETER, STORE_STAFF, roles_sync
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "has", "lacks"),
    [
        (
            STORE_STAFF,
            [
                "members.view_member",
                "members.change_member",
                "members.view_store",
                "members.view_activityevent",
            ],
            [
                "members.delete_member",
                "members.add_member",
                "members.delete_user",
                "members.view_user",
                "members.change_store",
                "members.view_apikey",
                "members.add_apikey",
                "auth.change_group",
            ],
        ),
        (
            MARKETER,
            ["members.view_store"],
            [
                "members.view_member",
                "members.change_member",
                "members.view_user",
                "members.view_apikey",
                "members.delete_member",
            ],
        ),
        (
            DATA_PROTECTION_OFFICER,
            ["members.view_member", "members.view_user", "members.view_activityevent"],
            [
                "members.change_member",
                "members.delete_member",
                "members.add_apikey",
                "auth.change_group",
            ],
        ),
        (
            ADMINISTRATOR,
            [
                "members.view_member",
                "members.change_member",
                "members.add_store",
                "members.change_store",
                "members.add_apikey",
                "members.change_apikey",
                "auth.change_group",
                "members.change_user",
            ],
            [],
        ),
    ],
)
def test_role_has_and_lacks_key_permissions(role, has, lacks):
    user = factories.staff_user(role=role)

    for permission in has:
        assert user.has_perm(permission), f"{role} should have {permission}"
    for permission in lacks:
        assert not user.has_perm(permission), f"{role} should not have {permission}"


def test_roles_exist_after_migrate_and_sync_is_idempotent():
    names = {STORE_STAFF, MARKETER, DATA_PROTECTION_OFFICER, ADMINISTRATOR}
    before = {g.name: set(g.permissions.values_list("pk", flat=True)) for g in Group.objects.all()}
    assert names <= set(before)

    roles_sync()

    after = {g.name: set(g.permissions.values_list("pk", flat=True)) for g in Group.objects.all()}
    assert after == before


def test_role_patterns_each_match_an_existing_permission(db):
    """A pattern naming a model or permission that does not exist is a typo that silently
    grants nothing: every pattern must match at least one real permission."""
    from fnmatch import fnmatch

    from django.contrib.auth.models import Permission

    from members.roles import ROLE_PERMISSIONS

    names = [
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.select_related("content_type")
    ]
    unmatched = [
        (role, pattern)
        for role, patterns in ROLE_PERMISSIONS.items()
        for pattern in patterns
        if not any(fnmatch(name, pattern) for name in names)
    ]
    assert unmatched == []
