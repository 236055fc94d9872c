"""Profile editing (same validation as sign-up) and the remembered language."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from members.activity import Kind
from tests import factories

pytestmark = pytest.mark.django_db
PROFILE = "/mina-sidor/profil/"


def _profile_data(member, **overrides):
    data = {
        "first_name": member.first_name,
        "last_name": member.last_name,
        "phone": member.phone,
        "birth_date": member.birth_date.isoformat() if member.birth_date else "",
        "home_store": member.home_store_id or "",
        "preferred_language": member.preferred_language,
    }
    data.update(overrides)
    return data


def test_profile_update_normalises_phone_and_records_changed_fields(client, member, store):
    client.force_login(member.user)

    response = client.post(
        PROFILE, _profile_data(member, phone="073-987 65 43", home_store=store.pk, last_name="Berg")
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.phone == "+46739876543"
    assert member.home_store == store
    assert member.last_name == "Berg"
    event = member.events.get(kind=Kind.PROFILE_UPDATED)
    # Which fields changed, never their values (the timeline holds no copies of personal data)
    assert event.data == {"fields": ["home_store", "last_name", "phone"]}


def test_profile_unchanged_records_nothing(client, member):
    client.force_login(member.user)
    client.post(PROFILE, _profile_data(member))
    assert not member.events.filter(kind=Kind.PROFILE_UPDATED).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "english"),
    [
        ({"phone": "08-123 456 78"}, "phone", "is not a mobile number"),
        ({"phone": "nonsense"}, "phone", "Enter a mobile number"),
        ({"birth_date": "2999-01-01"}, "birth_date", "cannot be in the future"),
        ({"first_name": " "}, "first_name", "This field is required"),
        ({"preferred_language": "de"}, "preferred_language", "Select a valid choice"),
    ],
)
def test_profile_bad_input_shows_error_and_changes_nothing(
    client, member, overrides, field, english
):
    client.force_login(member.user)
    before = (member.first_name, member.phone, member.birth_date, member.preferred_language)

    response = client.post(PROFILE, _profile_data(member, **overrides), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html
    error = html.split(f'id="id_{field}_error">', 1)[1].split("</div>", 1)[0]
    assert english in error
    member.refresh_from_db()
    assert (member.first_name, member.phone, member.birth_date, member.preferred_language) == before
    assert not member.events.filter(kind=Kind.PROFILE_UPDATED).exists()


def test_profile_language_change_sets_cookie(client, member):
    client.force_login(member.user)
    response = client.post(PROFILE, _profile_data(member, preferred_language="en"))
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert "My pages" in client.get("/mina-sidor/").content.decode()


def test_language_switch_is_remembered_in_cookie_and_on_the_member(client, member):
    # Given a member on their Swedish pages
    client.force_login(member.user)
    assert "Mina sidor" in client.get("/mina-sidor/").content.decode()

    # When they switch to English
    response = client.post("/sprak/", {"language": "en", "next": "/mina-sidor/kort/"})

    # Then the cookie and the membership both remember it
    assert response.status_code == 302
    assert response["Location"] == "/mina-sidor/kort/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    member.refresh_from_db()
    assert member.preferred_language == "en"
    assert member.events.filter(kind=Kind.LANGUAGE_CHANGED, data={"language": "en"}).exists()
    assert "My pages" in client.get("/mina-sidor/").content.decode()


def test_language_follows_the_member_to_another_device(member):
    # Given a member who chose English on their phone
    phone = Client()
    phone.force_login(member.user)
    phone.post("/sprak/", {"language": "en", "next": "/"})

    # When they log in on a new device whose browser asks for Swedish
    laptop = Client(HTTP_ACCEPT_LANGUAGE="sv")
    response = laptop.post(
        "/konto/login/", {"login": "anna@example.se", "password": "correct-horse-battery"}
    )

    # Then the new device gets the English cookie and English pages
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    page = laptop.get("/mina-sidor/").content.decode()
    assert "My pages" in page
    assert "Mina sidor" not in page


def test_language_switch_for_visitors_sets_only_the_cookie(client):
    response = client.post("/sprak/", {"language": "en", "next": "/"})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert "Welcome to the club" in client.get("/").content.decode()


def test_language_switch_rejects_unknown_language_and_foreign_next(client, member):
    client.force_login(member.user)
    response = client.post("/sprak/", {"language": "xx", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    member.refresh_from_db()
    assert member.preferred_language == "sv"


def test_staff_without_membership_is_sent_to_admin(client):
    staff = factories.staff_user(email="butik@example.se")
    client.force_login(staff)
    response = client.get("/mina-sidor/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_profile_page_shows_login_and_password_change(client, member):
    client.force_login(member.user)
    html = client.get(PROFILE, HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    assert "anna@example.se" in html
    assert 'href="/konto/password/change/"' in html
    assert "Ändra lösenord" in html
    assert client.get("/konto/password/change/").status_code == 200
