"""Browser journey: a marketer reads a test campaign's result (verdict, charts) and promotes
the winner; a member sees "Recommended for you" with the reason, in Swedish and English."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from campaigns.models import Campaign, FanoutChunk
from campaigns.personalisation.affinities import affinities_compute
from campaigns.personalisation.recommendations import recommendations_compute
from tests import factories
from tests.campaigns.test_results import _significant_campaign
from tests.factories import consent as cf
from tests.factories import rewards as rf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDE = {"width": 1200, "height": 900}


def _session_for(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _open(new_page: Any, live_server: Any, user: Any, language: str, **kwargs: Any) -> Any:
    page = new_page(locale="sv-SE" if language == "sv" else "en-GB", **kwargs)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": _session_for(user),
                "url": live_server.url,
            },
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url},
        ]
    )
    return page


def test_marketer_reads_the_verdict_and_promotes_the_winner(live_server, new_page):
    # given a finished A/B test in which B clearly beat A, and a marketer
    from members.roles import roles_sync

    roles_sync()  # the role groups come from migrations, which a transactional test flushes
    store = factories.store(code="browser-results")
    campaign = _significant_campaign(store, codes=("A", "B"))
    marketer = factories.staff_user(role="Marketer")
    page = _open(new_page, live_server, marketer, "en", viewport=WIDE)

    # when the marketer opens the results
    page.goto(f"{live_server.url}/admin/campaigns/results/{campaign.pk}/")

    # then the verdict is in plain words, the charts are drawn on the server
    assert (
        page.get_by_test_id("verdict")
        .inner_text()
        .startswith("Significant: contacted members spent")
    )
    assert page.locator("svg.chart").count() == 3
    assert page.locator("svg.chart circle").count() == 3  # uplift dots: all, A, B
    assert "Variant B is clearly the best" in page.get_by_test_id("winner").inner_text()

    # when they promote the clear winner
    page.get_by_label("Variant to send to the rest of the segment").select_option("")
    page.get_by_role("button", name="Promote").click()

    # then the engine starts sending variant B to the rest of the segment
    page.wait_for_url(f"**/admin/campaigns/results/{campaign.pk}/")
    assert "Variant B is being sent to the rest of the segment." in page.content()
    campaign.refresh_from_db()
    assert campaign.status in (Campaign.Status.SENDING, Campaign.Status.DONE)
    assert FanoutChunk.objects.filter(campaign=campaign, variant__code="B").exists()


@pytest.mark.parametrize(
    ("language", "heading", "why"),
    [
        ("sv", "Rekommenderat för dig", "Eftersom du köpte Jeans 501"),
        ("en", "Recommended for you", "Because you bought Jeans 501"),
    ],
)
def test_member_sees_recommendations_with_the_reason(
    live_server,
    new_page,
    language,
    heading,
    why,
):
    # given members who bought jeans with a shirt, and Anna who bought only the jeans
    rf.base_rule()
    store = factories.store(code="browser-recs")
    jeans = rf.line(sku="JEANS", name="Jeans 501", category="byxor", price_ore=79900)
    shirt = rf.line(sku="SHIRT", name="Flanellskjorta", category="skjortor", price_ore=39900)
    for _ in range(2):
        rf.purchase(store=store, member=factories.member_with_user(), lines=[jeans, shirt])
    rf.purchase(store=store, member=factories.member_with_user(), lines=[rf.line(sku="SOCKS")])
    anna = factories.member_with_user(preferred_language=language)
    cf.granted(anna, "profiling")
    rf.purchase(store=store, member=anna, lines=[jeans])
    affinities_compute()
    recommendations_compute()
    page = _open(new_page, live_server, anna.user, language)

    # when she opens My pages on her phone
    page.goto(f"{live_server.url}/mina-sidor/")

    # then the shirt is recommended, with why, readable on a phone
    panel = page.locator("section.recommended-panel")
    assert panel.get_by_role("heading", name=heading).is_visible()
    first = panel.get_by_test_id("recommendation").first
    assert "Flanellskjorta" in first.inner_text()
    assert why in first.inner_text()
    box = panel.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 390
