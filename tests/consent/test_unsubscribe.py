"""One-click unsubscribe: a signed link that withdraws one purpose, once, without login."""

from __future__ import annotations

import pytest

from consent.models import ConsentEvent
from consent.selectors import contact_permission
from consent.services.unsubscribe import unsubscribe_token_make
from consent.unsubscribe import unsubscribe_headers, unsubscribe_url
from tests.factories import consent as cf

pytestmark = pytest.mark.django_db


def _path(member, purpose="marketing_email", channel="email"):
    url = unsubscribe_url(member=member, purpose=purpose, channel=channel)
    return url[url.index("/avregistrera/") :]


def test_unsubscribe_link_withdraws_without_login(client, member):
    cf.granted(member, "marketing_email")
    path = _path(member)

    page = client.get(path)
    assert page.status_code == 200
    assert contact_permission(member=member, purpose="marketing_email", channel="email").allowed

    response = client.post(path)

    assert response.status_code == 200
    assert 'data-testid="unsubscribe-done"' in response.content.decode()
    decision = contact_permission(member=member, purpose="marketing_email", channel="email")
    assert decision.reason == "withdrawn"
    event = ConsentEvent.objects.filter(member=member).latest("pk")
    assert event.granted is False
    assert event.source == "unsubscribe"
    assert event.actor is None


def test_unsubscribe_link_works_once(client, member):
    cf.granted(member, "marketing_email")
    path = _path(member)
    client.post(path)
    cf.granted(member, "marketing_email")  # the member later says yes again

    again = client.post(path)

    assert again.status_code == 200
    assert "already unsubscribed" in again.content.decode() or "redan" in again.content.decode()
    assert contact_permission(member=member, purpose="marketing_email", channel="email").allowed
    assert ConsentEvent.objects.filter(member=member).count() == 3


def test_unsubscribe_rejects_a_tampered_token(client, member):
    cf.granted(member, "marketing_email")
    token = unsubscribe_token_make(member=member, purpose="marketing_email", channel="email")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    for method in (client.get, client.post):
        response = method(f"/avregistrera/{tampered}/")
        assert response.status_code == 400

    assert contact_permission(member=member, purpose="marketing_email", channel="email").allowed


def test_unsubscribe_token_for_another_member_cannot_be_forged(client, member):
    # A token signed for another member id with a guessed key is rejected
    from django.core import signing

    forged = signing.dumps(
        {"m": member.pk, "p": "marketing_email", "c": "email", "n": "x"},
        key="not-the-site-key",
        salt="consent.unsubscribe",
    )
    cf.granted(member, "marketing_email")

    assert client.post(f"/avregistrera/{forged}/").status_code == 400
    assert contact_permission(member=member, purpose="marketing_email", channel="email").allowed


def test_unsubscribe_rfc8058_one_click_post(client, member):
    # A mail client POSTs List-Unsubscribe=One-Click without cookies or CSRF token
    cf.granted(member, "marketing_sms")
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        _path(member, "marketing_sms", "sms"),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert (
        contact_permission(member=member, purpose="marketing_sms", channel="sms").reason
        == "withdrawn"
    )


def test_unsubscribe_headers_follow_rfc8058(member):
    url = unsubscribe_url(member=member, purpose="marketing_email", channel="email")

    headers = unsubscribe_headers(url)

    assert headers == {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert url.startswith("http")
