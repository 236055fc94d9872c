"""Demo data: deterministic (seeded) and idempotent."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.core.management import call_command

from members.management.commands.seed_demo import DEMO_MEMBER_EMAIL, DEMO_PASSWORD, demo_members
from members.models import ActivityEvent, Member, Store, User
from members.phone import phone_normalise
from members.services import membership_number_is_valid

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "members": Member.objects.count(),
        "emails": EmailAddress.objects.count(),
        "events": ActivityEvent.objects.count(),
        "stores": Store.objects.count(),
        "groups": Group.objects.count(),
    }


def test_demo_members_same_seed_same_rows():
    first = list(demo_members(seed=7, count=200))
    again = list(demo_members(seed=7, count=200))
    other = list(demo_members(seed=8, count=200))

    assert first == again
    assert first != other
    # A larger run starts with exactly the rows of the smaller one
    assert list(demo_members(seed=7, count=300))[:200] == first


def test_demo_members_look_valid():
    rows = list(demo_members(seed=1, count=500))

    assert len({r["membership_number"] for r in rows}) == 500
    assert all(membership_number_is_valid(r["membership_number"]) for r in rows)
    assert len({r["email"] for r in rows}) == 500
    assert rows[0]["email"] == DEMO_MEMBER_EMAIL
    for row in rows:
        if row["phone"]:
            assert phone_normalise(row["phone"]) == row["phone"]


def test_seed_demo_twice_creates_nothing_new(capsys):
    call_command("seed_demo", "--members", "40")
    first = _counts()
    numbers = set(Member.objects.values_list("membership_number", flat=True))

    call_command("seed_demo", "--members", "40")

    assert _counts() == first
    assert set(Member.objects.values_list("membership_number", flat=True)) == numbers
    assert first["members"] == 40
    assert first["events"] == 40
    assert first["stores"] == 8
    assert "0 new members" in capsys.readouterr().out


def test_seed_demo_more_members_adds_only_the_new_ones():
    call_command("seed_demo", "--members", "20")
    numbers = set(Member.objects.values_list("membership_number", flat=True))

    call_command("seed_demo", "--members", "30", "--batch-size", "7")

    assert Member.objects.count() == 30
    assert numbers <= set(Member.objects.values_list("membership_number", flat=True))
    expected = {r["membership_number"] for r in demo_members(seed=20261122, count=30)}
    assert set(Member.objects.values_list("membership_number", flat=True)) == expected


def test_seed_demo_logins_work(client):
    call_command("seed_demo", "--members", "3")

    member_login = client.post(
        "/konto/login/", {"login": DEMO_MEMBER_EMAIL, "password": DEMO_PASSWORD}
    )
    assert member_login.status_code == 302
    assert client.get("/mina-sidor/kort/").status_code == 200

    client.logout()
    staff_login = client.post(
        "/admin/login/",
        {"username": "butik@demo.kundklubb.se", "password": DEMO_PASSWORD, "next": "/admin/"},
    )
    assert staff_login.status_code == 302
    assert client.get("/admin/members/member/").status_code == 200
