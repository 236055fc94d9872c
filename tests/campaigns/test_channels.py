"""Channels: email with unsubscribe headers and tracked links, SMS through the 46elks API
(against a local fake server), retries and permanent failures, the inbox."""

from __future__ import annotations

import base64
import datetime
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.test import override_settings

from campaigns.authoring import campaign_launch
from campaigns.models import Delivery
from campaigns.sending.channels import sms_segments
from campaigns.sending.sweep import deliveries_sweep
from members.models import Member
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consent_f

pytestmark = pytest.mark.django_db
NOON = datetime.datetime(2026, 3, 11, 12, tzinfo=ZoneInfo("Europe/Stockholm"))


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    def _run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return _run


class FakeElks:
    """A local stand-in for https://api.46elks.com: records requests, answers as told."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[int] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                fake.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "form": form}
                )
                status = fake.answers.pop(0) if fake.answers else 200
                body = json.dumps({"id": f"s{len(fake.requests)}", "status": "created"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def elks(settings) -> Iterator[FakeElks]:
    fake = FakeElks()
    settings.CAMPAIGNS_SMS_BACKEND = "46elks"
    settings.CAMPAIGNS_SMS_API_URL = fake.url
    settings.CAMPAIGNS_SMS_USERNAME = "u123"
    settings.CAMPAIGNS_SMS_PASSWORD = "secret"
    settings.CAMPAIGNS_SMS_FROM = "Kundklubb"
    yield fake
    fake.server.shutdown()


def _sms_member(**fields: Any) -> Member:
    member = factories.member_with_user(phone="0701234567", **fields)
    consent_f.granted(member, "marketing_sms")
    return member


def test_sms_channel_speaks_46elks_form_api_with_basic_auth(run, elks):
    anna = _sms_member(first_name="Anna")
    bo = _sms_member(first_name="Bo", preferred_language="en")
    campaign = cf.campaign(channels=["sms"])
    with time_machine.travel(NOON, tick=False):
        run(campaign_launch, campaign=campaign, actor=None)
    assert {r["path"] for r in elks.requests} == {"/a1/sms"}
    assert {r["auth"] for r in elks.requests} == {
        "Basic " + base64.b64encode(b"u123:secret").decode()
    }
    texts = {r["form"]["message"].split("\n")[0] for r in elks.requests}
    assert texts == {"Hej Anna! Rea nu.", "Hi Bo! Sale now."}
    assert {r["form"]["to"] for r in elks.requests} == {anna.phone, bo.phone}
    assert {r["form"]["from"] for r in elks.requests} == {"Kundklubb"}
    assert set(Delivery.objects.values_list("status", "provider_ref")) == {
        ("sent", "s1"),
        ("sent", "s2"),
    }


def test_sms_provider_error_retries_with_backoff_then_sends(run, elks):
    _sms_member()
    elks.answers = [503]
    campaign = cf.campaign(channels=["sms"])
    with time_machine.travel(NOON, tick=False):
        run(campaign_launch, campaign=campaign, actor=None)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.reason) == ("pending", "retry")
    assert delivery.not_before == NOON + datetime.timedelta(seconds=30)
    with time_machine.travel(NOON + datetime.timedelta(seconds=10), tick=False):
        run(deliveries_sweep)
    assert Delivery.objects.get().status == "pending"  # not due yet
    with time_machine.travel(NOON + datetime.timedelta(seconds=31), tick=False):
        run(deliveries_sweep)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(elks.requests)) == ("sent", 2, 2)


def test_sms_rejected_by_provider_is_recorded_as_failed(run, elks):
    _sms_member()
    elks.answers = [400]
    campaign = cf.campaign(channels=["sms"])
    with time_machine.travel(NOON, tick=False):
        run(campaign_launch, campaign=campaign, actor=None)
    assert Delivery.objects.get().status == "failed"
    assert Delivery.objects.get().reason == "provider_rejected"
    campaign.refresh_from_db()
    assert campaign.status == "done"


def test_sms_without_a_phone_number_falls_back(run, elks):
    member = factories.member_with_user()
    consent_f.granted(member, "marketing_sms", "marketing_email")
    campaign = cf.campaign(channels=["sms", "email"])
    with time_machine.travel(NOON, tick=False):
        run(campaign_launch, campaign=campaign, actor=None)
    rows = dict(Delivery.objects.values_list("channel", "reason"))
    assert rows == {"sms": "no_address", "email": ""}
    assert elks.requests == []


def test_sms_segments_counts_gsm_and_unicode():
    assert sms_segments("Hej! Rea på skor.") == (17, 1, "GSM-7")
    assert sms_segments("x" * 161)[1] == 2
    assert sms_segments("€" * 80)[0] == 160
    assert sms_segments("Hej 😀")[2] == "UCS-2"


def test_email_carries_unsubscribe_headers_tracked_links_and_the_members_language(run, client):
    anna = factories.member_with_user(first_name="Anna", preferred_language="en")
    consent_f.granted(anna, "marketing_email")
    campaign = cf.campaign(channels=["email"])
    with time_machine.travel(NOON, tick=False):
        run(campaign_launch, campaign=campaign, actor=None)
    (message,) = mail.outbox
    assert message.subject == "Hello Anna (A)"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/avregistrera/" in message.extra_headers["List-Unsubscribe"]
    assert "https://example.com/sale" not in message.body
    html = message.alternatives[0][0]
    assert "/avregistrera/" in html
    assert "/o/" in html
    delivery = Delivery.objects.get()
    assert message.extra_headers["Message-ID"] == f"<kk-delivery-{delivery.pk}@kundklubb>"
    tracked = next(w for w in message.body.split() if "/k/" in w)
    response = client.get(tracked[tracked.index("/k/") :])
    assert response.status_code == 302
    assert response["Location"] == "https://example.com/sale"
    delivery.refresh_from_db()
    assert delivery.clicked_at is not None
    assert delivery.opened_at is not None


def test_email_links_follow_the_site_url(run):
    # Given the club served on another address than the default
    anna = factories.member_with_user(first_name="Anna")
    consent_f.granted(anna, "marketing_email")
    campaign = cf.campaign(channels=["email"])

    # When the campaign's email goes out
    with override_settings(SITE_URL="http://127.0.0.1:8123"), time_machine.travel(NOON, tick=False):
        run(campaign_launch, campaign=campaign, actor=None)

    # Then the unsubscribe link (body, HTML and header), the tracked links and the open
    # pixel all point at that address
    (message,) = mail.outbox
    html = message.alternatives[0][0]
    unsubscribe = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("http://127.0.0.1:8123/avregistrera/")
    assert f"{unsubscribe}\n" in message.body
    assert f'href="{unsubscribe}"' in html
    links = re.findall(r"https?://[^\s\"<>]+", message.body + html)
    assert len(links) >= 4  # the tracked link in text and HTML, unsubscribe, the open pixel
    assert all(link.startswith("http://127.0.0.1:8123/") for link in links), links


def test_tracked_link_with_a_forged_token_is_404(client):
    assert client.get("/k/not-a-token/").status_code == 404
    assert client.get("/o/forged/p.gif").status_code == 200
