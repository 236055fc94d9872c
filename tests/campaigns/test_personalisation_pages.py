"""Personalisation on the pages: "Recommended for you", "my data", export, erasure and the
next best offer staff see on a member's admin page."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import MemberRecommendation
from campaigns.personalisation.affinities import affinities_compute
from campaigns.personalisation.recommendations import recommendations_compute
from consent import privacy_parts
from consent.services.erasure import member_anonymise
from tests import factories
from tests.factories import consent as cf
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 6, 1, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _buy(store, member, *skus):
    lines = {
        "JEANS": rf.line(sku="JEANS", name="Jeans 501", category="byxor", price_ore=79900),
        "SHIRT": rf.line(sku="SHIRT", name="Flanellskjorta", category="skjortor", price_ore=39900),
        "SOCKS": rf.line(sku="SOCKS", name="Strumpor", category="strumpor", price_ore=9900),
    }
    rf.purchase(
        store=store,
        member=member,
        lines=[lines[s] for s in skus],
        purchased_at=timezone.now() - datetime.timedelta(days=5),
    )


@pytest.fixture
def anna(store):
    """Anna allows profiling and bought jeans; two others bought jeans and the shirt, and a
    third only socks (so jeans -> shirt has a lift above 1)."""
    rf.base_rule()
    for _ in range(2):
        other = factories.member_with_user()
        _buy(store, other, "JEANS", "SHIRT")
    _buy(store, factories.member_with_user(), "SOCKS")
    anna = factories.member_with_user(email="anna.p@example.se", preferred_language="sv")
    cf.granted(anna, "profiling")
    _buy(store, anna, "JEANS")
    affinities_compute()
    recommendations_compute()
    return anna


def test_home_shows_recommended_for_you_with_the_reason(client, anna):
    client.force_login(anna.user)

    html = client.get("/mina-sidor/", HTTP_ACCEPT_LANGUAGE="sv").content.decode()

    assert 'id="recommended-heading"' in html
    assert "Flanellskjorta" in html
    assert "Eftersom du köpte Jeans 501" in html


def test_home_shows_no_recommendations_after_withdrawal(client, anna):
    cf.withdrawn(anna, "profiling")
    client.force_login(anna.user)

    html = client.get("/mina-sidor/").content.decode()

    assert 'id="recommended-heading"' not in html
    assert "Flanellskjorta" not in html


def test_export_section_carries_every_recommendation_field(anna):
    section = next(s for s in privacy_parts.export_sections() if s.name == "recommendations")
    rows = list(section.rows(anna))
    assert rows
    assert {f.name for f in MemberRecommendation._meta.concrete_fields} <= set(rows[0])


def test_erasure_deletes_the_members_recommendations(anna):
    assert MemberRecommendation.objects.filter(member=anna).exists()

    member_anonymise(member_id=anna.pk)

    assert not MemberRecommendation.objects.filter(member=anna).exists()


def test_retention_job_purges_recommendations_without_consent(anna):
    cf.withdrawn(anna, "profiling")
    job = next(j for j in privacy_parts.retention_jobs() if j.name == "campaigns.recommendations")
    assert job.run(timezone.now()) > 0
    assert not MemberRecommendation.objects.filter(member=anna).exists()


def test_member_admin_page_shows_the_next_best_offer_to_store_staff(client, anna):
    client.force_login(factories.staff_user(role="Store staff"))

    html = client.get(
        f"/admin/members/member/{anna.pk}/change/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()

    assert 'id="nbo-heading"' in html
    assert "Flanellskjorta" in html
    assert "Because you bought Jeans 501" in html


def test_member_admin_page_says_why_there_is_no_next_best_offer(client, store):
    member = factories.member_with_user()
    client.force_login(factories.staff_user(role="Store staff"))

    html = client.get(
        f"/admin/members/member/{member.pk}/change/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()

    assert "has not said yes to personal offers" in html


def test_recommended_panel_reads_in_swedish(client, anna):
    client.force_login(anna.user)
    html = client.get("/mina-sidor/", HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    assert "Rekommenderat för dig" in html
    assert "Varför?" in html


# --- back-office ------------------------------------------------------------------------------


def test_marketer_sees_affinities_strongest_first(client, anna):
    client.force_login(factories.staff_user(role="Marketer"))

    response = client.get("/admin/campaigns/productaffinity/?basis=basket")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Jeans 501" in html
    assert "Flanellskjorta" in html
    assert "/admin/campaigns/productaffinity/add/" not in html


def test_marketer_maps_an_interest_to_a_category(client, store):
    from campaigns.models import InterestCategory
    from consent.models import Interest
    from rewards.models import Category

    shoes = Category.objects.create(code="loparskor", name="löparskor")
    running = Interest.objects.get(code="running")
    client.force_login(factories.staff_user(role="Marketer"))

    response = client.post(
        "/admin/campaigns/interestcategory/add/", {"interest": running.pk, "category": shoes.pk}
    )

    assert response.status_code == 302
    assert InterestCategory.objects.filter(interest=running, category=shoes).exists()


def test_run_now_button_queues_the_nightly_job(client, anna):
    from campaigns.models import PersonalisationRun

    client.force_login(factories.staff_user(role="Marketer"))
    page = client.get("/admin/campaigns/personalisationrun/")
    assert "Run personalisation now" in page.content.decode() or "Kör" in page.content.decode()

    response = client.post("/admin/campaigns/personalisationrun/run/")

    # Tasks run eagerly in tests: the run is recorded at once
    assert response.status_code == 302
    run = PersonalisationRun.objects.get()
    assert run.finished_at is not None
    assert run.members_scored == 1


def test_run_now_needs_permission(client, anna):
    client.force_login(factories.staff_user(role="Store staff"))
    assert client.post("/admin/campaigns/personalisationrun/run/").status_code == 403


def test_nightly_task_is_registered_for_beat():
    from django.conf import settings

    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["campaigns-personalisation-nightly"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


def test_withdrawing_profiling_deletes_stored_recommendations_after_commit(
    anna, django_capture_on_commit_callbacks
):
    # When Anna withdraws profiling (the timeline consumer runs after commit)
    with django_capture_on_commit_callbacks(execute=True):
        cf.withdrawn(anna, "profiling")

    # Then her stored rows are gone at once, not only after the nightly run
    assert not MemberRecommendation.objects.filter(member=anna).exists()


def test_withdrawing_another_purpose_keeps_recommendations(
    anna, django_capture_on_commit_callbacks
):
    cf.granted(anna, "marketing_email")
    with django_capture_on_commit_callbacks(execute=True):
        cf.withdrawn(anna, "marketing_email")
    assert MemberRecommendation.objects.filter(member=anna).exists()


def test_my_offers_says_why_each_offer_was_given(client, anna, django_assert_max_num_queries):
    # Given Anna has an offer on shirts (a category she never bought, recommended to her)
    # and one on jeans (which she bought)
    from campaigns.models import MemberOffer
    from rewards.models import Category
    from tests.factories import campaigns as campaign_factories

    shirts = campaign_factories.offer(category=Category.objects.get(code="skjortor"))
    jeans = campaign_factories.offer(category=Category.objects.get(code="byxor"))
    for offer in (shirts, jeans):
        campaign = campaign_factories.campaign(offer_obj=offer)
        MemberOffer.objects.create(member=anna, offer=offer, campaign=campaign)
    client.force_login(anna.user)

    # When she opens My offers in English
    with django_assert_max_num_queries(30):
        html = client.get("/mina-sidor/erbjudanden/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    # Then each card says why in plain words
    assert html.count('data-testid="offer-why"') == 2
    assert "Because you bought byxor." in html
    assert "Because you bought Jeans 501: they are often bought together." in html
