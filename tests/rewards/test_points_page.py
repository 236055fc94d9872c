"""The member's points page and the panel on "My pages", in Swedish and English."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rewards.models import Purchase
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db
URL = "/mina-sidor/poang/"


@pytest.fixture
def shopper(member, store):
    rf.base_rule(name_sv="1 poäng per krona", name_en="1 point per krona")
    now = timezone.now()
    rf.purchase(
        store=store,
        member=member,
        purchased_at=now - datetime.timedelta(days=20),
        lines=[rf.line("RUN-1", 1, 30000, name="Löparsko")],
    )
    rf.purchase(store=store, member=member, lines=[rf.line("SOCK", 2, 5000)])
    return member


def _client(member, language: str) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(member.user)
    return client


def test_points_page_in_swedish_shows_balance_pending_expiry_and_explained_history(shopper):
    html = _client(shopper, "sv").get(URL).content.decode()
    assert "Mina poäng" in html
    assert "Tillgängligt nu" in html
    assert 'data-testid="available">300 p' in html
    assert 'data-testid="pending">100 p' in html
    pending_day = (timezone.localtime() + datetime.timedelta(days=14)).date()
    assert f"100 p den {pending_day.day} " in html
    assert "kan användas till och med" in html
    assert "+300 p: 1 poäng per krona" in html
    assert "Löparsko" in html


def test_points_page_in_english(shopper):
    html = _client(shopper, "en").get(URL).content.decode()
    assert "My points" in html
    assert "Available now" in html
    assert "+100 p: 1 point per krona" in html
    assert "can be used until" in html


def test_home_panel_shows_points(shopper):
    html = _client(shopper, "sv").get("/mina-sidor/").content.decode()
    assert 'data-testid="points-available">300<' in html
    assert "poäng att använda nu" in html


def test_points_page_query_count_does_not_grow_with_history(member, store):
    rf.base_rule()
    for _ in range(3):
        rf.purchase(store=store, member=member, lines=[rf.line("A", 1, 1000), rf.line("B", 1, 500)])
    client = _client(member, "sv")
    with CaptureQueriesContext(connection) as few:
        client.get(URL)
    for _ in range(8):
        rf.purchase(store=store, member=member, lines=[rf.line("A", 1, 1000), rf.line("B", 1, 500)])
    with CaptureQueriesContext(connection) as many:
        client.get(URL)
    assert len(many) == len(few)


def test_points_page_requires_login_and_shows_only_own_points(shopper):
    assert Client().get(URL).status_code == 302
    other = factories.member_with_user(email="other@example.se")
    html = _client(other, "sv").get(URL).content.decode()
    assert "Löparsko" not in html
    assert 'data-testid="available">0 p' in html


def test_claim_form_attaches_purchase_once(member, store):
    rf.base_rule()
    rf.purchase(store=store, member=None, receipt_id="K-55", lines=[rf.line("A", 1, 24950)])
    client = _client(member, "sv")
    wrong = client.post(
        "/mina-sidor/poang/registrera-kop/",
        {"store": store.pk, "receipt_id": "K-55", "total": "249.00"},
    )
    assert wrong.status_code == 200
    assert "Vi hittade inget köp" in wrong.content.decode()
    ok = client.post(
        "/mina-sidor/poang/registrera-kop/",
        {"store": store.pk, "receipt_id": "K-55", "total": "249.50"},
    )
    assert ok.status_code == 302
    assert Purchase.objects.get(receipt_id="K-55").member == member
    again = client.post(
        "/mina-sidor/poang/registrera-kop/",
        {"store": store.pk, "receipt_id": "K-55", "total": "249.50"},
    )
    assert "tillhör redan en medlem" in again.content.decode()


def test_points_page_says_what_points_were_spent_on(shopper):
    from rewards.loyalty import catalogue

    reward = rf.reward(
        code="rabatt-50", points_cost=200, name_sv="50 kr rabatt", name_en="SEK 50 off"
    )
    catalogue.reward_claim(member=shopper, reward=reward, idempotency_key="spend-1")

    swedish = _client(shopper, "sv").get(URL).content.decode()
    english = _client(shopper, "en").get(URL).content.decode()

    assert '<span class="muted explanation">50 kr rabatt</span>' in swedish
    assert '<span class="muted explanation">SEK 50 off</span>' in english


def test_points_page_escapes_names_and_texts_it_writes_itself(member, store):
    # the history rows and purchases are written by the view (rewards.views), not the template
    store.name = "<i>Butik</i>"
    store.save(update_fields=["name"])
    rf.base_rule(name_sv="<b>bonus</b>", name_en="<b>bonus</b>")
    rf.purchase(store=store, member=member, lines=[rf.line("X1", 1, 1000, name="<script>x")])
    html = _client(member, "sv").get(URL).content.decode()
    assert "<script>x" not in html
    assert "<i>Butik</i>" not in html
    assert "<b>bonus</b>" not in html
    assert "&lt;i&gt;Butik&lt;/i&gt;" in html
    assert "&lt;b&gt;bonus&lt;/b&gt;" in html
