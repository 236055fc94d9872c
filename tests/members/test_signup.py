"""Sign-up through django-allauth: one user, one member, one unverified email; or nothing."""

from __future__ import annotations

import datetime
import re

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core import mail

from members.activity import Kind
from members.models import ActivityEvent, Member, User
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/konto/signup/"
TODAY = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=datetime.UTC)


def _valid(**overrides: str) -> dict[str, str]:
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


def _field_block(html: str, field: str) -> str:
    """The rendered markup of one field: its label, input, error and help text."""
    match = re.search(rf'data-field="{field}">(.*?)(?=data-field=|</form>)', html, re.S)
    assert match, f"field {field} not rendered"
    return match.group(1)


def _counts() -> tuple[int, int, int, int]:
    return (
        User.objects.count(),
        Member.objects.count(),
        EmailAddress.objects.count(),
        ActivityEvent.objects.count(),
    )


def test_signup_creates_one_user_one_member_and_unverified_email(
    client, django_capture_on_commit_callbacks
):
    # Given a visitor on the Swedish sign-up page
    # When they submit only what a membership needs
    with time_machine.travel(TODAY), django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, _valid(phone="070-123 45 67"), HTTP_ACCEPT_LANGUAGE="sv")

    # Then exactly one user, member and unverified email address exist, and a "joined" event
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _counts() == (1, 1, 1, 1)
    user = User.objects.get()
    assert user.email == "astrid@example.se"
    member = Member.objects.get()
    assert member.user == user
    assert (member.first_name, member.last_name) == ("Astrid", "Lindqvist")
    assert member.phone == "+46701234567"
    assert member.preferred_language == "sv"
    assert member.join_channel == Member.JoinChannel.WEB
    assert len(member.membership_number) == 10
    email = EmailAddress.objects.get()
    assert (email.email, email.verified, email.primary) == ("astrid@example.se", False, True)
    assert ActivityEvent.objects.get().kind == Kind.JOINED
    # And the verification email went out (eager Celery, after commit)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["astrid@example.se"]


def test_signup_in_english_remembers_english(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, _valid(), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    assert Member.objects.get().preferred_language == "en"
    assert "Confirm your email address" in mail.outbox[0].body


def test_signup_page_marks_optional_fields(client):
    html_sv = client.get(URL, HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    html_en = client.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    for field in ("phone", "birth_date", "home_store"):
        assert "(valfritt)" in _field_block(html_sv, field)
        assert "(optional)" in _field_block(html_en, field)
    for field in ("first_name", "last_name", "email", "password1"):
        assert "(valfritt)" not in _field_block(html_sv, field)
        assert "required" in _field_block(html_sv, field)


@pytest.mark.parametrize(
    ("overrides", "field", "swedish", "english"),
    [
        (
            {"phone": "12345"},
            "phone",
            "är inte ett giltigt telefonnummer",
            "is not a valid phone number",
        ),
        (
            {"phone": "abc"},
            "phone",
            "Ange ett mobilnummer, till exempel 070-123 45 67",
            "Enter a mobile number such as 070-123 45 67",
        ),
        (
            {"phone": "08-123 456 78"},
            "phone",
            "är inte ett mobilnummer",
            "is not a mobile number",
        ),
        (
            {"password1": "abc", "password2": "abc"},
            "password1",
            "lösenordet är för kort",
            "This password is too short",
        ),
        (
            {"password1": "password123", "password2": "password123"},
            "password1",
            "för vanligt",
            "too common",
        ),
        (
            {"birth_date": "2026-06-16"},
            "birth_date",
            "Födelsedatumet kan inte ligga i framtiden",
            "The birth date cannot be in the future",
        ),
        (
            {"birth_date": "2010-06-16"},
            "birth_date",
            "Du måste vara minst 16 år",
            "You must be at least 16 years old",
        ),
        (
            {"first_name": "  "},
            "first_name",
            "Det här fältet är obligatoriskt",
            "This field is required",
        ),
        (
            {"last_name": ""},
            "last_name",
            "Det här fältet är obligatoriskt",
            "This field is required",
        ),
        ({"email": "not-an-email"}, "email", "giltig", "valid email address"),
    ],
)
@pytest.mark.parametrize("language", ["sv", "en"])
def test_signup_bad_input_shows_error_next_to_field_and_saves_nothing(
    client, django_capture_on_commit_callbacks, overrides, field, swedish, english, language
):
    # Given an existing member (a registered address is no error: sign-up never reveals one)
    factories.member_with_user(email="anna@example.se")
    mail.outbox.clear()
    before = _counts()

    # When a visitor signs up with one bad input
    with time_machine.travel(TODAY), django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(URL, _valid(**overrides), HTTP_ACCEPT_LANGUAGE=language)

    # Then the form comes back with the specific error next to that field, in their language
    assert response.status_code == 200
    html = response.content.decode()
    block = _field_block(html, field)
    expected = swedish if language == "sv" else english
    assert expected in block, block
    assert f'id="id_{field}_error"' in block
    assert 'aria-invalid="true"' in block
    # And nothing was saved or sent
    assert _counts() == before
    assert callbacks == []
    assert mail.outbox == []


def test_signup_sixteenth_birthday_today_is_allowed(client):
    with time_machine.travel(TODAY):
        response = client.post(URL, _valid(birth_date="2010-06-15"))
    assert response.status_code == 302
    assert Member.objects.get().birth_date == datetime.date(2010, 6, 15)


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_signup_twice_at_once_with_one_email_creates_one_member(monkeypatch):
    # Given member creation is slow, so that the second sign-up inserts its user while the
    # first one's transaction is still open
    import threading
    import time

    from django.db import connection
    from django.test import Client

    import members.forms

    real_member_create = members.forms.member_create

    def slow_member_create(**kwargs):
        time.sleep(0.3)
        return real_member_create(**kwargs)

    monkeypatch.setattr(members.forms, "member_create", slow_member_create)
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def sign_up(last_name: str) -> None:
        try:
            client = Client()
            barrier.wait()
            response = client.post(URL, _valid(last_name=last_name, email="twin@example.se"))
            statuses.append(response.status_code)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    # When the same address signs up twice at the same moment
    threads = [threading.Thread(target=sign_up, args=(n,)) for n in ("Ett", "Två")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then one membership exists, and the other sign-up got the same answer as any sign-up
    # (a registered address is never revealed), not a crash
    assert errors == []
    assert sorted(statuses) == [302, 302]
    assert User.objects.filter(email="twin@example.se").count() == 1
    assert Member.objects.count() == 1
    assert EmailAddress.objects.count() == 1


@pytest.mark.django_db
def test_member_create_keeps_a_given_membership_number():
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError

    from members.services import member_create

    member = member_create(first_name="Åsa", last_name="Jönsson", membership_number="7117325121")

    assert member.membership_number == "7117325121"
    with pytest.raises(ValidationError) as invalid:
        member_create(first_name="Per", last_name="Ek", membership_number="7117325122")
    assert "membership_number" in invalid.value.message_dict
    with pytest.raises(IntegrityError):  # taken: never silently another number
        member_create(first_name="Per", last_name="Ek", membership_number="7117325121")
    assert Member.objects.count() == 1
