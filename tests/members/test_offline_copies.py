"""Which pages the phone may keep for offline use (members.offline, docs/member-pages.md
"Offline and install"): the member's card, Mina sidor, points and vouchers say so with a
header that stands for the member without naming them; no other page does."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from members.offline import OFFLINE_HEADER, offline_member_key
from tests import factories

pytestmark = pytest.mark.django_db

KEPT = ["/mina-sidor/", "/mina-sidor/kort/", "/mina-sidor/poang/", "/mina-sidor/vouchers/"]
NOT_KEPT = ["/mina-sidor/profil/", "/mina-sidor/utmaningar/", "/mina-sidor/erbjudanden/"]


def _client(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def test_the_kept_pages_carry_the_members_key_and_no_other_page_does(member):
    client = _client(member)
    key = offline_member_key(member)
    for path in KEPT:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response[OFFLINE_HEADER] == key, path
    for path in NOT_KEPT:
        response = client.get(path)
        assert response.status_code == 200, path
        assert OFFLINE_HEADER not in response, path


def test_the_key_differs_per_member_and_does_not_show_their_id(member):
    other = factories.member_with_user(first_name="Bo")
    assert offline_member_key(member) != offline_member_key(other)
    assert re.fullmatch(r"[0-9a-f]{24}", offline_member_key(member))  # a keyed hash, not the id
    assert offline_member_key(member) == offline_member_key(member)  # stable across visits


def test_logged_out_the_pages_redirect_without_the_header(db):
    for path in KEPT:
        response = Client().get(path)
        assert response.status_code == 302, path
        assert OFFLINE_HEADER not in response, path


def test_the_offline_page_is_local_and_links_to_the_kept_pages(member):
    html = _client(member).get("/offline/", headers={"accept-language": "en"}).content.decode()
    assert "You are offline" in html
    for path in KEPT:
        assert f'href="{path}"' in html, path
