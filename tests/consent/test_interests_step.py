""" "Vad gillar du?" (issue 16): right after sign-up a short, optional step asks for the
member's interests as large tiles; "Spara" saves them, "Hoppa över" changes nothing; it is
offered once, and Mina val links to it later."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from consent.interests_step import interests_step_due
from consent.models import Interest, MemberInterest
from members.activity import Kind
from members.models import ActivityEvent, Member
from members.signup_steps import signup_step_url

pytestmark = pytest.mark.django_db
STEP = "/mina-sidor/vad-gillar-du/"
HOME = "/mina-sidor/"


def _sign_up_and_confirm(client: Client, capture: Any) -> str:
    """Sign up, then open the mail's link in the same browser and confirm: allauth logs the
    new member in and sends them on to the sign-up redirect."""
    data = {
        "first_name": "Sara",
        "last_name": "Nyström",
        "email": "sara@example.se",
        "password1": "ett-langt-losenord-42",
        "password2": "ett-langt-losenord-42",
    }
    with capture(execute=True):
        assert client.post("/konto/signup/", data).status_code == 302
    match = re.search(r"https?://\S+(/konto/confirm-email/\S+)", str(mail.outbox[-1].body))
    assert match
    return match.group(1)


def test_the_step_follows_sign_up_and_can_be_skipped(
    client: Client, django_capture_on_commit_callbacks
):
    link = _sign_up_and_confirm(client, django_capture_on_commit_callbacks)

    # When the new member confirms their email
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(link)

    # Then they land on the step, with a tile per interest, "Spara" and "Hoppa över"
    assert confirmed.status_code == 302
    assert confirmed["Location"] == STEP
    page = client.get(STEP, HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200
    # in the language they joined in (Swedish), whatever the browser asks for
    assert "Vad gillar du?" in html
    assert "Hoppa över" in html
    assert html.count('class="interest-tile"') == Interest.objects.filter(active=True).count()
    assert 'name="skip"' in html
    assert 'name="save"' in html
    member = Member.objects.get(user__email="sara@example.se")
    assert ActivityEvent.objects.filter(member=member, kind=Kind.INTERESTS_ASKED).count() == 1

    # When they skip
    skipped = client.post(STEP, {"skip": "1", "next": HOME})

    # Then they are on Mina sidor, nothing was chosen, and the step is not offered again
    assert skipped.status_code == 302
    assert skipped["Location"] == HOME
    assert not MemberInterest.objects.filter(member=member).exists()
    assert signup_step_url(member) is None
    client.get(STEP)  # opened again from Mina val: still recorded once
    assert ActivityEvent.objects.filter(member=member, kind=Kind.INTERESTS_ASKED).count() == 1


def test_saving_two_tiles_saves_the_interests(member):
    client = Client()
    client.force_login(member.user)
    assert interests_step_due(member=member)
    client.get(STEP)
    running, yoga = (Interest.objects.get(code=c).pk for c in ("running", "yoga"))

    saved = client.post(STEP, {"save": "", "interests": [running, yoga]})

    assert saved.status_code == 302
    assert saved["Location"] == HOME
    assert set(
        MemberInterest.objects.filter(member=member).values_list("interest_id", flat=True)
    ) == {
        running,
        yoga,
    }
    assert not interests_step_due(member=member)


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "Choose at least one interest, or skip this step."), ("sv", None)],
)
def test_saving_nothing_or_a_stranger_is_refused_clearly(member, language, message):
    client = Client(headers={"accept-language": language})
    client.force_login(member.user)

    empty = client.post(STEP, {"save": ""})
    bogus = client.post(STEP, {"save": "", "interests": ["999999"]})

    assert empty.status_code == 400
    assert bogus.status_code == 400
    assert 'role="alert"' in empty.content.decode()
    if message:
        assert message in empty.content.decode()
    assert not MemberInterest.objects.filter(member=member).exists()


def test_the_preference_centre_links_to_the_step_and_the_step_leads_back(member):
    client = Client()
    client.force_login(member.user)
    html = client.get("/mina-sidor/installningar/").content.decode()
    assert f'href="{STEP}?next=/mina-sidor/installningar/%23interests"' in html

    page = client.get(STEP + "?next=/mina-sidor/installningar/%23interests").content.decode()
    assert 'name="next" value="/mina-sidor/installningar/#interests"' in page
    back = client.post(STEP, {"skip": "1", "next": "/mina-sidor/installningar/#interests"})
    assert back["Location"] == "/mina-sidor/installningar/#interests"
    elsewhere = client.post(STEP, {"skip": "1", "next": "https://evil.example/mina-sidor/"})
    assert elsewhere["Location"] == HOME


def test_a_member_with_interests_is_not_offered_the_step(member):
    MemberInterest.objects.create(member=member, interest=Interest.objects.get(code="yoga"))
    assert signup_step_url(member) is None


def test_the_step_needs_a_login(client: Client):
    response = client.get(STEP)
    assert response.status_code == 302
    assert "/konto/login/" in response["Location"]


def test_confirming_in_another_browser_offers_the_step_at_the_first_login(
    client: Client, django_capture_on_commit_callbacks
):
    # Given a new member who signed up here and opens the mail's link on another browser
    # (a phone's mail app opens its own): confirmed there, but not logged in here
    link = _sign_up_and_confirm(client, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = Client().post(link)
    assert confirmed.status_code == 302
    assert confirmed["Location"] != STEP
    member = Member.objects.get(user__email="sara@example.se")
    assert not ActivityEvent.objects.filter(member=member, kind=Kind.INTERESTS_ASKED).exists()

    # When they log in for the first time
    credentials = {"login": "sara@example.se", "password": "ett-langt-losenord-42"}
    first = Client().post("/konto/login/", credentials)

    # Then the login leads to "Vad gillar du?", and after it any login to Mina sidor
    assert first.status_code == 302
    assert first["Location"] == STEP
    again = Client().post("/konto/login/", credentials)
    assert again["Location"] == HOME


def test_a_first_login_without_a_confirmed_link_goes_to_mina_sidor(member):
    # A member whose login staff or an import made never confirmed a link here
    member.user.set_password("ett-langt-losenord-42")
    member.user.save()
    assert interests_step_due(member=member)

    first = Client().post(
        "/konto/login/", {"login": member.user.email, "password": "ett-langt-losenord-42"}
    )

    assert first.status_code == 302
    assert first["Location"] == HOME
