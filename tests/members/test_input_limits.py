"""Issue 11: what members type about themselves is refused when it cannot be right, never
cut off or stored as given: over-long email addresses, control characters in names, birth
dates before 1900. One validator each (``members.validators``), used by every way in."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from members.models import ActivityEvent, Member, User
from members.roles import STORE_STAFF
from members.services import member_create, member_update_profile
from tests import factories

pytestmark = pytest.mark.django_db
SIGNUP = "/konto/signup/"
PROFILE = "/mina-sidor/profil/"
TODAY = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=datetime.UTC)
LONG_EMAIL = "x" * 288 + "@example.se"  # 299 characters: a valid address, too long to store


def _signup_data(**overrides: str) -> dict[str, str]:
    data = {
        "first_name": "Astrid",
        "last_name": "Lindqvist",
        "email": "astrid@example.se",
        "password1": "Grön-Tulpan-1987",
        "password2": "Grön-Tulpan-1987",
        "phone": "",
        "birth_date": "",
        "home_store": "",
    }
    data.update(overrides)
    return data


def _counts() -> tuple[int, int, int, int]:
    return (
        User.objects.count(),
        Member.objects.count(),
        EmailAddress.objects.count(),
        ActivityEvent.objects.count(),
    )


def _error(html: str, field: str) -> str:
    assert f'id="id_{field}_error"' in html, html[:3000]
    return html.split(f'id="id_{field}_error">', 1)[1].split("</div>", 1)[0]


# --- 1. over-long email ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("sv", "E-postadressen är för lång: högst 254 tecken (den här har 299)."),
        ("en", "The email address is too long: at most 254 characters (this one has 299)."),
    ],
)
def test_signup_refuses_an_over_long_email_instead_of_truncating_it(
    client, django_capture_on_commit_callbacks, language, expected
):
    before = _counts()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            SIGNUP, _signup_data(email=LONG_EMAIL), HTTP_ACCEPT_LANGUAGE=language
        )

    assert response.status_code == 200
    assert expected in _error(response.content.decode(), "email")
    assert _counts() == before
    assert not User.objects.filter(email__startswith="xxxx").exists()
    assert callbacks == []
    assert mail.outbox == []


def test_signup_accepts_an_email_of_exactly_254_characters(client):
    email = "y" * 243 + "@example.se"
    assert len(email) == 254

    response = client.post(SIGNUP, _signup_data(email=email))

    assert response.status_code == 302
    assert User.objects.get().email == email


def test_adding_an_over_long_email_address_is_refused(client, member):
    client.force_login(member.user)

    response = client.post(
        "/konto/email/", {"action_add": "", "email": LONG_EMAIL}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 200
    assert "The email address is too long" in response.content.decode()
    assert list(EmailAddress.objects.values_list("email", flat=True)) == [member.user.email]
    member.user.refresh_from_db()
    assert member.user.email == "anna@example.se"


# --- 4. names and birth dates ----------------------------------------------------------------

BAD_NAMES = [
    "Anna\x1b[31mRöd",  # ANSI escape
    "Anna\nSvensson",  # newline
    "Anna\x07",  # bell
    "\u202eannA",  # right-to-left override (Cf)
    "An\u200bna",  # zero-width space (Cf)
    "An\u2028na",  # line separator
]


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("sv", "Ett namn får inte innehålla styrtecken eller osynliga formateringstecken."),
        ("en", "A name cannot contain control characters or invisible formatting characters."),
    ],
)
def test_signup_refuses_control_characters_in_names(client, name, language, expected):
    before = _counts()

    response = client.post(SIGNUP, _signup_data(first_name=name), HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 200
    assert expected in _error(response.content.decode(), "first_name")
    assert _counts() == before


@pytest.mark.parametrize(
    ("overrides", "field", "english"),
    [
        ({"first_name": "Anna\x1b[2J"}, "first_name", "control characters"),
        ({"last_name": "Svensson\u202e"}, "last_name", "control characters"),
        ({"birth_date": "1800-01-01"}, "birth_date", "Enter a birth date in 1900 or later."),
        ({"birth_date": "1899-12-31"}, "birth_date", "Enter a birth date in 1900 or later."),
    ],
)
def test_profile_refuses_control_characters_and_implausible_birth_dates(
    client, member, overrides, field, english
):
    client.force_login(member.user)
    data = {
        "first_name": member.first_name,
        "last_name": member.last_name,
        "phone": "",
        "birth_date": "",
        "home_store": "",
        "preferred_language": "en",
        **overrides,
    }

    response = client.post(PROFILE, data, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert english in _error(response.content.decode(), field)
    member.refresh_from_db()
    assert (member.first_name, member.last_name, member.birth_date) == ("Anna", "Svensson", None)


def test_signup_birth_date_before_1900_is_refused_in_swedish(client):
    response = client.post(SIGNUP, _signup_data(birth_date="1800-01-01"))

    assert response.status_code == 200
    assert "Ange ett födelsedatum år 1900 eller senare." in _error(
        response.content.decode(), "birth_date"
    )
    assert not Member.objects.exists()


@pytest.mark.parametrize(
    "name",
    [
        "Åsa-Britt",
        "O'Brien",
        "José María",
        "Ngũgĩ",
        "Zoë",
        "محمد",
        "Anna\u00a0Lena",
        "علی\u200cرضا",
    ],
)
def test_real_names_in_any_script_are_accepted(client, name):
    with time_machine.travel(TODAY):
        response = client.post(
            SIGNUP,
            _signup_data(first_name=name, email="n@example.se", birth_date="1900-01-01"),
        )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Member.objects.get().first_name == name


def test_services_refuse_control_characters_and_old_birth_dates(member):
    # Every write goes through these services (sign-up, profile, admin, demo, bench)
    with pytest.raises(ValidationError) as create_error:
        member_create(first_name="Ok", last_name="Bad\x1b", birth_date=datetime.date(1800, 1, 1))
    assert set(create_error.value.message_dict) == {"last_name", "birth_date"}

    with pytest.raises(ValidationError) as update_error:
        member_update_profile(member=member, actor=None, first_name="\x00Anna")
    assert set(update_error.value.message_dict) == {"first_name"}


def test_model_fields_carry_the_validators(member):
    # Any ModelForm or full_clean() path (admin, imports) meets the same rules
    member.first_name = "Anna\x1b[0m"
    member.birth_date = datetime.date(1800, 1, 1)
    with pytest.raises(ValidationError) as error:
        member.full_clean()
    assert {"first_name", "birth_date"} <= set(error.value.message_dict)


def test_admin_edit_refuses_control_characters_and_1800(client, member):
    client.force_login(factories.staff_user(role=STORE_STAFF))
    data = {
        "first_name": "Anna\x1b[31m",
        "last_name": "Svensson",
        "phone": "",
        "birth_date": "1800-01-01",
        "preferred_language": "sv",
        "home_store": "",
    }

    response = client.post(reverse("admin:members_member_change", args=[member.pk]), data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"first_name", "birth_date"} <= set(errors)
    member.refresh_from_db()
    assert (member.first_name, member.birth_date) == ("Anna", None)
