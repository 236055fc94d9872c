"""Browser journeys: the preference centre and the export download, in Swedish and English.

Uses the shared Playwright fixtures of ``tests/browser/conftest.py`` (imported below).
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from django.test import Client

from consent.models import ConsentState, ContactPreferences, MemberInterest
from consent.selectors import contact_permission
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = {
    "sv": {
        "heading": "Mina val",
        "yes": "Säg ja",
        "withdraw": "Återkalla",
        "status_yes": "Ja",
        "status_no": "Nej",
        "pause": "Pausa all marknadsföring i 30 dagar",
        "paused": "All marknadsföring är pausad till",
        "save_interests": "Spara intressen",
        "running": "Löpning",
        "yoga": "Yoga",
        "my_data": "Mina data",
        "export": "Gör en ny export",
        "download": "Ladda ner mina uppgifter",
    },
    "en": {
        "heading": "My choices",
        "yes": "Say yes",
        "withdraw": "Withdraw",
        "status_yes": "Yes",
        "status_no": "No",
        "pause": "Pause all marketing for 30 days",
        "paused": "All marketing is paused until",
        "save_interests": "Save interests",
        "running": "Running",
        "yoga": "Yoga",
        "my_data": "My data",
        "export": "Make a new export",
        "download": "Download my data",
    },
}


def _logged_in_page(new_page, live_server, member, language):
    client = Client()
    client.force_login(member.user)
    page = new_page(locale="sv-SE" if language == "sv" else "en-GB")
    host = live_server.url
    page.context.add_cookies(
        [
            {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": host},
            {"name": "django_language", "value": language, "url": host},
        ]
    )
    return page


@pytest.mark.parametrize("language", ["sv", "en"])
def test_preference_centre_grant_withdraw_pause_and_interests(live_server, new_page, language):
    text = TEXT[language]
    member = factories.member_with_user(
        email=f"pref.{language}@example.se", preferred_language=language
    )
    page = _logged_in_page(new_page, live_server, member, language)

    # Given the member on the preference centre
    page.goto(live_server.url + "/mina-sidor/installningar/")
    assert page.locator("main h1").inner_text() == text["heading"]
    email_box = page.locator("#purpose-marketing_email")
    assert (
        email_box.get_by_test_id("status-marketing_email")
        .inner_text()
        .startswith(text["status_no"])
    )

    # When they say yes to offers by email (one click)
    email_box.get_by_role("button", name=text["yes"]).click()
    page.wait_for_load_state()
    email_box = page.locator("#purpose-marketing_email")
    assert (
        email_box.get_by_test_id("status-marketing_email")
        .inner_text()
        .startswith(text["status_yes"])
    )
    assert contact_permission(member=member, purpose="marketing_email", channel="email").allowed

    # And withdraw it again (also one click)
    email_box.get_by_role("button", name=text["withdraw"]).click()
    page.wait_for_load_state()
    status = page.locator("#purpose-marketing_email").get_by_test_id("status-marketing_email")
    assert status.inner_text().startswith(text["status_no"])
    decision = contact_permission(member=member, purpose="marketing_email", channel="email")
    assert decision.reason == "withdrawn"

    # And set how often and when, and pause everything for 30 days
    page.select_option("select[name=max_messages_per_week]", "2")
    page.fill("input[name=quiet_start]", "21:00")
    page.fill("input[name=quiet_end]", "08:00")
    page.locator("#contact button[type=submit]").click()
    page.wait_for_load_state()
    page.get_by_role("button", name=text["pause"]).click()
    page.wait_for_load_state()
    assert text["paused"] in page.get_by_test_id("pause-status").inner_text()

    # And choose interests
    page.get_by_label(text["running"]).check()
    page.get_by_label(text["yoga"]).check()
    page.get_by_role("button", name=text["save_interests"]).click()
    page.wait_for_load_state()

    # Then everything is stored
    prefs = ContactPreferences.objects.get(member=member)
    assert prefs.max_messages_per_week == 2
    assert prefs.quiet_start.hour == 21
    assert prefs.paused_until is not None
    codes = set(
        MemberInterest.objects.filter(member=member).values_list("interest__code", flat=True)
    )
    assert codes == {"running", "yoga"}
    assert ConsentState.objects.get(member=member, purpose__code="marketing_email").granted is False
    assert page.locator("input[name=interests]:checked").count() == 2


@pytest.mark.parametrize("language", ["sv", "en"])
def test_my_data_export_download(live_server, new_page, language):
    text = TEXT[language]
    member = factories.member_with_user(
        email=f"export.{language}@example.se", first_name="Greta", preferred_language=language
    )
    page = _logged_in_page(new_page, live_server, member, language)

    # Given the member on "my data", reached from the menu
    page.goto(live_server.url + "/mina-sidor/")
    page.locator("header nav .more-menu summary").click()  # Mina data is under "Mer"
    page.locator("header nav").get_by_role("link", name=text["my_data"]).click()
    page.wait_for_url(re.compile(r"/mina-sidor/mina-data/$"))
    assert "export." + language + "@example.se" in page.locator("main").inner_text()

    # When they ask for an export (the job runs; the page follows its progress)
    page.get_by_role("button", name=text["export"]).click()
    download_link = page.get_by_role("link", name=text["download"])
    download_link.wait_for()

    # Then the ZIP downloads, with their profile in it
    with page.expect_download() as info:
        download_link.click()
    data = open(info.value.path(), "rb").read()  # noqa: SIM115
    archive = zipfile.ZipFile(io.BytesIO(data))
    profile = json.loads(archive.read("profile.json"))
    assert profile[0]["first_name"] == "Greta"
    assert "manifest.json" in archive.namelist()
