"""The back-office and the API docs load without a 404 favicon or a CSP violation: every
script and style comes from our own origin, none is inline (issue 14)."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders

from members.roles import ADMINISTRATOR
from tests import factories

pytestmark = pytest.mark.django_db

# What CSP "script-src 'self'; style-src 'self'" refuses in a page.
INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", re.IGNORECASE),  # a script with a body
    re.compile(r"<style\b", re.IGNORECASE),
    re.compile(r"\sstyle=\"", re.IGNORECASE),
    re.compile(r"\son[a-z]+=\"", re.IGNORECASE),  # onclick="..." and friends
]


def test_favicon_is_served_from_our_static_files(client):
    # When a browser asks for /favicon.ico
    response = client.get("/favicon.ico")

    # Then it is sent to the club's icon, a local static file
    assert response.status_code == 301
    assert response["Location"] == "/static/icons/icon.svg"
    assert finders.find("icons/icon.svg")


def test_admin_pages_link_the_icon(client):
    client.force_login(factories.staff_user(role=ADMINISTRATOR))
    html = client.get("/admin/").content.decode()
    assert '<link rel="icon" href="/static/icons/icon.svg" type="image/svg+xml">' in html


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/rewards/pointbalance/",
        "/admin/rewards/pointbalance/member/{member}/",
        "/admin/rewards/voucher/",
        "/admin/members/member/{member}/change/",
        "/api/docs/",
    ],
)
def test_page_has_nothing_inline_the_csp_refuses(client, member, path):
    # Given an administrator
    client.force_login(factories.staff_user(role=ADMINISTRATOR))

    # When they open the page
    response = client.get(path.format(member=member.pk))

    # Then it is served with the policy, and has no inline script, style or handler
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    html = response.content.decode()
    assert [p.pattern for p in INLINE if p.search(html)] == []
    for asset in re.findall(r'(?:src|href)="(/static/[^"?]+)', html):
        assert finders.find(asset.removeprefix("/static/")), asset
