"""Activation by phone (members.activation, docs/import.md "Activation"): a till member with
only a mobile number gets a text message with a code and a link; membership number plus the
code opens the password page; the member gives the address their login will have and keeps
number, card and points. Codes work once, die after five wrong guesses, and the page never
tells whether a membership matched."""

from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from members import activation
from members.activity import Kind
from members.models import Member, User
from members.services import member_create
from rewards.selectors import balance_get
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db
PAGE = "/konto/aktivera/"
CODE_PAGE = "/konto/aktivera/kod/"
PASSWORD_PAGE = "/konto/aktivera/losenord/"
PASSWORD = "Grön-Tulpan-1987"


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Codes and limits in a cache of this test's own (conftest clears the shared one)."""
    import uuid

    from django.core.cache.backends.locmem import LocMemCache

    monkeypatch.setattr(activation, "cache", LocMemCache(f"activation-{uuid.uuid4()}", {}))


@pytest.fixture
def tom(db) -> Member:
    """Joined at a till: a mobile number, no email, no login, and points."""
    member = member_create(first_name="Tom", last_name="Till", phone="070-333 44 55")
    rf.earned(member, 420)
    return member


def _ask(client: Any, text: str, capture: Any) -> Any:
    with capture(execute=True):
        return client.post(PAGE, {"identifier": text})


def _code(sms: Any) -> str:
    found = re.search(r"\b(\d{6})\b", sms.text)
    assert found is not None, sms.text
    return found.group(1)


def _link(sms: Any) -> str:
    found = re.search(r"https?://[^/\s]+(/konto/aktivera/\S+/)", sms.text)
    assert found is not None, sms.text
    return found.group(1)


def test_a_till_member_activates_with_the_link_in_a_text_message(
    tom, client, django_capture_on_commit_callbacks, sms_outbox
):
    number, balance = tom.membership_number, balance_get(member=tom)
    members = Member.objects.count()

    answer = _ask(client, "0703334455", django_capture_on_commit_callbacks)

    assert answer["Location"] == "/konto/aktivera/skickat/?via=sms"
    sent = client.get(answer["Location"]).content.decode()
    assert "Titta i din mobil" in sent
    assert CODE_PAGE in sent
    assert [sms.to for sms in sms_outbox] == ["+46703334455"]
    assert mail.outbox == []
    link = client.get(_link(sms_outbox[0]))
    assert link["Location"] == PASSWORD_PAGE
    form = client.get(PASSWORD_PAGE).content.decode()
    assert 'name="email"' in form
    assert 'type="email"' in form
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            PASSWORD_PAGE,
            {"email": "Tom.Till@Example.se", "password1": PASSWORD, "password2": PASSWORD},
        )

    assert done.status_code == 302
    assert done["Location"] == "/mina-sidor/"
    tom.refresh_from_db()
    assert tom.user is not None
    assert client.session["_auth_user_id"] == str(tom.user_id)
    assert tom.user.email == "tom.till@example.se"
    assert tom.membership_number == number
    assert balance_get(member=tom) == balance
    assert Member.objects.count() == members
    # the address was not where the link went: it is confirmed by allauth's mail
    address = EmailAddress.objects.get(user=tom.user)
    assert (address.email, address.verified, address.primary) == (
        "tom.till@example.se",
        False,
        True,
    )
    assert [m.to for m in mail.outbox] == [["tom.till@example.se"]]
    assert "/konto/confirm-email/" in mail.outbox[0].body
    event = tom.events.get(kind=Kind.ACCOUNT_ACTIVATED)
    assert event.data == {"channel": "sms"}


def test_membership_number_plus_the_code_opens_the_password_page(
    tom, client, django_capture_on_commit_callbacks, sms_outbox
):
    _ask(client, tom.membership_number, django_capture_on_commit_callbacks)
    code = _code(sms_outbox[0])
    assert client.get(CODE_PAGE).status_code == 200

    answer = client.post(CODE_PAGE, {"identifier": tom.membership_number, "code": code})

    assert answer.status_code == 302
    assert answer["Location"] == PASSWORD_PAGE
    done = client.post(
        PASSWORD_PAGE, {"email": "tom@example.se", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert done["Location"] == "/mina-sidor/"
    tom.refresh_from_db()
    assert tom.user is not None
    assert tom.user.check_password(PASSWORD)


def test_a_code_works_once(tom, client, django_capture_on_commit_callbacks, sms_outbox):
    _ask(client, tom.membership_number, django_capture_on_commit_callbacks)
    code = _code(sms_outbox[0])
    first = client.post(CODE_PAGE, {"identifier": tom.membership_number, "code": code})
    assert first["Location"] == PASSWORD_PAGE

    again = client.post(CODE_PAGE, {"identifier": tom.membership_number, "code": code})

    assert again.status_code == 200
    assert "Koden stämmer inte" in again.content.decode()


def test_five_wrong_guesses_burn_the_code(
    tom, client, django_capture_on_commit_callbacks, sms_outbox
):
    _ask(client, tom.membership_number, django_capture_on_commit_callbacks)
    code = _code(sms_outbox[0])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(activation.CODE_TRIES):
        answer = client.post(CODE_PAGE, {"identifier": tom.membership_number, "code": wrong})
        assert answer.status_code == 200

    right = client.post(CODE_PAGE, {"identifier": tom.membership_number, "code": code})

    assert right.status_code == 200
    assert "Koden stämmer inte" in right.content.decode()
    assert PASSWORD_PAGE not in right.get("Location", "")


def test_the_code_is_only_for_the_member_it_went_to(
    tom, client, django_capture_on_commit_callbacks, sms_outbox
):
    other = member_create(first_name="Ulla", last_name="Annan", phone="0706667788")
    _ask(client, tom.membership_number, django_capture_on_commit_callbacks)
    code = _code(sms_outbox[0])

    answer = client.post(CODE_PAGE, {"identifier": other.membership_number, "code": code})

    assert answer.status_code == 200
    assert "Koden stämmer inte" in answer.content.decode()


def test_a_taken_address_is_refused_and_nothing_changes(
    tom, client, django_capture_on_commit_callbacks, sms_outbox
):
    factories.member_with_user(email="taken@example.se")
    _ask(client, "0703334455", django_capture_on_commit_callbacks)
    client.get(_link(sms_outbox[0]))
    users = User.objects.count()

    answer = client.post(
        PASSWORD_PAGE, {"email": "TAKEN@example.se", "password1": PASSWORD, "password2": PASSWORD}
    )

    assert answer.status_code == 200
    assert "hör redan till en inloggning" in answer.content.decode()
    assert User.objects.count() == users
    tom.refresh_from_db()
    assert tom.user_id is None
    assert not tom.events.filter(kind=Kind.ACCOUNT_ACTIVATED).exists()


def test_one_text_per_member_in_the_interval_and_unknown_numbers_get_the_same_answer(
    tom, client, django_capture_on_commit_callbacks, sms_outbox
):
    first = _ask(client, "0703334455", django_capture_on_commit_callbacks)
    second = _ask(client, tom.membership_number, django_capture_on_commit_callbacks)
    nobody = _ask(client, "0709999999", django_capture_on_commit_callbacks)

    assert {first["Location"], second["Location"], nobody["Location"]} == {
        "/konto/aktivera/skickat/?via=sms"
    }
    assert len(sms_outbox) == 1


def test_an_imported_member_activated_by_text_keeps_their_address_unconfirmed(
    client, django_capture_on_commit_callbacks, sms_outbox
):
    """A login made by the import (unusable password) and a phone: the text's link sets the
    password but does not confirm the address it never went to."""
    from members.imports import members_import

    header = "external_id;first_name;last_name;email;phone;birth_date;" + (
        "postcode;home_store;joined_at;language"
    )
    data = "\r\n".join([header, "P-1;Pia;Ek;pia@example.se;070-111 22 33;;;;2019-06-14;sv"])
    assert members_import(data=data.encode(), dry_run=False).lines() == []
    pia = Member.objects.get(external_id="P-1")

    _ask(client, "0701112233", django_capture_on_commit_callbacks)
    client.get(_link(sms_outbox[0]))
    form = client.get(PASSWORD_PAGE).content.decode()
    assert "pia@example.se" in form
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(PASSWORD_PAGE, {"password1": PASSWORD, "password2": PASSWORD})

    assert done["Location"] == "/mina-sidor/"
    address = EmailAddress.objects.get(user_id=pia.user_id)
    assert address.verified is False
    assert [m.to for m in mail.outbox] == [["pia@example.se"]]
    assert not pia.events.filter(kind=Kind.EMAIL_VERIFIED).exists()


def test_the_text_is_in_the_members_language(
    django_capture_on_commit_callbacks, client, sms_outbox
):
    member_create(
        first_name="Sara", last_name="Svensk", phone="0701212121", preferred_language="sv"
    )
    _ask(client, "0701212121", django_capture_on_commit_callbacks)

    assert "aktiveringskod" in sms_outbox[0].text
