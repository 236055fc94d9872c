"""Counts in the marketer's back-office agree in number: "1 medlem", "2 medlemmar" (issue 14)."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import Segment
from members.roles import MARKETER
from tests import factories

pytestmark = pytest.mark.django_db

BY_LANGUAGE = "/admin/campaigns/segment/count/"


def _count(client, language: str) -> dict:
    criteria = {"op": "and", "children": [{"field": "language", "value": [language]}]}
    response = client.post(
        BY_LANGUAGE,
        json.dumps({"criteria": criteria}),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="sv",
    )
    assert response.status_code == 200
    return response.json()


def test_live_count_agrees_in_number(client):
    # Given one English-speaking member and two Swedish-speaking ones, and a marketer
    factories.member_with_user(preferred_language="en")
    factories.member_with_user(preferred_language="sv")
    factories.member_with_user(preferred_language="sv")
    client.force_login(factories.staff_user(role=MARKETER))

    # When the builder counts each language, then the words agree with the number
    one, two = _count(client, "en"), _count(client, "sv")
    assert (one["count"], one["count_label"]) == (1, "matchande medlem")
    assert (two["count"], two["count_label"]) == (2, "matchande medlemmar")


def test_upload_report_agrees_in_number(client):
    # Given a marketer uploading a list with one member and one line that matches nobody
    anna = factories.member_with_user()
    client.force_login(factories.staff_user(role=MARKETER))
    upload = SimpleUploadedFile(
        "list.csv", f"{anna.membership_number}\nnobody@example.se\n".encode()
    )

    # When the list is saved
    response = client.post(
        "/admin/campaigns/segment/import/",
        {"name": "VIP", "file": upload},
        HTTP_ACCEPT_LANGUAGE="sv",
        follow=True,
    )

    # Then the message and the segment's report say "1 medlem", "1 rad", not "1 medlemmar"
    html = response.content.decode()
    assert "1 medlem på listan; 1 rad användes inte." in html
    segment = Segment.objects.get(name="VIP")
    page = client.get(f"/admin/campaigns/segment/{segment.pk}/change/", HTTP_ACCEPT_LANGUAGE="sv")
    assert "2 rader · 1 medlem · 0 dubbletter · 1 avvisad" in page.content.decode()
    assert "1 medlemmar" not in page.content.decode()
