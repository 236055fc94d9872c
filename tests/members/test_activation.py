"""Activation (members.activation, docs/import.md "Activation"): a member who joined in
store or was imported gets a login with a one-time link, as the same member; the page never
tells whether a membership matched; sign-up with such an address activates instead of
creating a second member."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core import mail
from django.utils import timezone

from members import activation
from members.activity import Kind
from members.imports import members_import
from members.models import ActivityEvent, Member, User
from members.services import member_create
from rewards.selectors import balance_get
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db
PAGE = "/konto/aktivera/"
SENT = "/konto/aktivera/skickat/"
PASSWORD = "Grön-Tulpan-1987"
HEADER = (
    "external_id;first_name;last_name;email;phone;birth_date;postcode;home_store;joined_at;language"
)


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limits count in the shared cache, which a parallel test worker may clear at any
    moment (conftest's ``cache.clear()``); these tests count in a cache of their own, with
    the same ``add``/``incr`` the limits use on Redis."""
    import uuid

    from django.core.cache.backends.locmem import LocMemCache

    monkeypatch.setattr(activation, "cache", LocMemCache(f"activation-{uuid.uuid4()}", {}))


def _import(*lines: str) -> None:
    data = "\r\n".join([HEADER, *lines]).encode()
    report = members_import(data=data, dry_run=False)
    assert report.lines() == []


@pytest.fixture
def pia(db) -> Member:
    """An imported member with an email (a login with an unusable password) and points."""
    _import("P-1;Pia;Ek;pia@example.se;070-111 22 33;;;;2019-06-14;sv")
    member = Member.objects.get(external_id="P-1")
    rf.earned(member, 750)
    return member


def _link(message: Any) -> str:
    found = re.search(r"https?://[^/\s]+(/konto/aktivera/\S+/)", message.body)
    assert found is not None, message.body
    return found.group(1)


def _state() -> tuple[int, int, int, int, list[str]]:
    return (
        Member.objects.count(),
        User.objects.count(),
        EmailAddress.objects.filter(verified=True).count(),
        ActivityEvent.objects.count(),
        sorted(User.objects.values_list("password", flat=True)),
    )


def _ask(client: Any, text: str, capture: Any) -> Any:
    with capture(execute=True):
        return client.post(PAGE, {"identifier": text})


def test_an_imported_member_activates_and_logs_in_as_the_same_member(
    pia, client, django_capture_on_commit_callbacks
):
    number, balance = pia.membership_number, balance_get(member=pia)
    members, users = Member.objects.count(), User.objects.count()

    answer = _ask(client, "pia@example.se", django_capture_on_commit_callbacks)

    assert answer.status_code == 302
    assert answer["Location"] == SENT
    assert [m.to for m in mail.outbox] == [["pia@example.se"]]
    assert "Pia" in mail.outbox[0].body
    assert number in mail.outbox[0].body
    link = client.get(_link(mail.outbox[0]))
    assert link.status_code == 302
    assert link["Location"] == "/konto/aktivera/losenord/"
    form = client.get(link["Location"])
    assert form.status_code == 200
    assert "pia@example.se" in form.content.decode()
    done = client.post(link["Location"], {"password1": PASSWORD, "password2": PASSWORD})

    assert done.status_code == 302
    assert done["Location"] == "/mina-sidor/"
    assert client.session["_auth_user_id"] == str(pia.user_id)
    pia.refresh_from_db()
    assert pia.membership_number == number
    assert balance_get(member=pia) == balance
    assert balance["available"] == 750
    assert (Member.objects.count(), User.objects.count()) == (members, users)
    assert EmailAddress.objects.get(user_id=pia.user_id).verified
    kinds = list(pia.events.values_list("kind", flat=True))
    assert Kind.ACCOUNT_ACTIVATED in kinds
    assert Kind.EMAIL_VERIFIED in kinds
    # and from now on the ordinary login works, without a confirmation round
    client.logout()
    login = client.post("/konto/login/", {"login": "pia@example.se", "password": PASSWORD})
    assert login.status_code == 302
    assert login["Location"] == "/mina-sidor/"


@pytest.mark.parametrize("how", ["phone", "number", "upper-case email"])
def test_email_gets_a_mail_phone_or_membership_number_a_text_to_the_number_on_record(
    pia, client, django_capture_on_commit_callbacks, sms_outbox, how
):
    text = {
        "phone": "+46 70 111 22 33",
        "number": " ".join([pia.membership_number[:4], pia.membership_number[4:]]),
        "upper-case email": " PIA@Example.SE ",
    }[how]

    answer = _ask(client, text, django_capture_on_commit_callbacks)

    if how == "upper-case email":
        assert answer["Location"] == SENT
        assert [m.to for m in mail.outbox] == [["pia@example.se"]]
        assert sms_outbox == []
    else:
        assert answer["Location"] == SENT + "?via=sms"
        assert mail.outbox == []
        assert [sms.to for sms in sms_outbox] == ["+46701112233"]


def test_the_link_works_once_and_older_links_die_with_it(
    pia, client, django_capture_on_commit_callbacks
):
    first = activation.activation_token_make(Member.objects.get(pk=pia.pk))
    second = activation.activation_token_make(Member.objects.get(pk=pia.pk))

    activation.member_activate(token=second, password=PASSWORD)

    for token in (first, second):
        answer = client.get(f"/konto/aktivera/{token}/")
        assert answer.status_code == 400
        assert "The link does not work" in answer.content.decode() or "Länken" in (
            answer.content.decode()
        )
        with pytest.raises(activation.ActivationLinkInvalidError):
            activation.member_activate(token=token, password="Another-Pass-2024")
    assert User.objects.get(pk=pia.user_id).check_password(PASSWORD)


def test_the_link_expires_after_an_hour(pia, client):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        token = activation.activation_token_make(pia)
    with time_machine.travel(start + datetime.timedelta(minutes=59), tick=False):
        activation.activation_token_member(token)  # still valid
    with time_machine.travel(start + datetime.timedelta(minutes=61), tick=False):
        assert client.get(f"/konto/aktivera/{token}/").status_code == 400
        with pytest.raises(activation.ActivationLinkInvalidError):
            activation.member_activate(token=token, password=PASSWORD)
    assert not User.objects.get(pk=pia.user_id).has_usable_password()


def test_a_forged_or_cut_link_and_a_stale_session_are_refused(pia, client):
    token = activation.activation_token_make(pia)
    for bad in (token[:-2], token + "x", "abc", token.replace(":", "-", 1)):
        assert client.get(f"/konto/aktivera/{bad}/").status_code == 400
    # No token in the session: the password page refuses too.
    answer = client.post(
        "/konto/aktivera/losenord/", {"password1": PASSWORD, "password2": PASSWORD}
    )
    assert answer.status_code == 400
    assert not User.objects.get(pk=pia.user_id).has_usable_password()


def test_a_weak_or_mismatched_password_changes_nothing_and_the_link_stays_valid(pia, client):
    token = activation.activation_token_make(pia)
    client.get(f"/konto/aktivera/{token}/")

    weak = client.post("/konto/aktivera/losenord/", {"password1": "123", "password2": "123"})
    mismatch = client.post(
        "/konto/aktivera/losenord/", {"password1": PASSWORD, "password2": PASSWORD + "x"}
    )

    assert weak.status_code == 200
    assert mismatch.status_code == 200
    assert not User.objects.get(pk=pia.user_id).has_usable_password()
    activation.activation_token_member(token)


def test_unknown_and_ineligible_input_gets_the_same_answer_and_changes_nothing(
    pia, client, django_capture_on_commit_callbacks, sms_outbox
):
    """Nobody, a member who already has a password, a staff login, a phone two login-less
    members share, garbage: the same redirect (by what was typed), no mail, no text."""
    factories.member_with_user(email="has-password@example.se", phone="0702223344")
    staff = factories.member_with_user(email="staff@example.se")
    User.objects.filter(member=staff).update(is_staff=True, password="!unusable")
    member_create(first_name="Ada", last_name="Delad", phone="0704445566")
    member_create(first_name="Bo", last_name="Delad", phone="0704445566")
    before = _state()
    texts = [
        "nobody@example.se",
        "has-password@example.se",
        "0702223344",
        "staff@example.se",
        "0704445566",
        "1234567890",
        "not an address",
    ]

    answers = [_ask(client, text, django_capture_on_commit_callbacks) for text in texts]

    assert {(a.status_code, a["Location"]) for a in answers} == {
        (302, SENT),
        (302, SENT + "?via=sms"),
    }
    assert mail.outbox == []
    assert sms_outbox == []
    assert _state() == before
    # the answer page itself is the same whatever came before it
    assert "pia@example.se" not in client.get(SENT).content.decode()


def test_requests_are_rate_limited_per_identifier_and_per_client(
    pia, client, django_capture_on_commit_callbacks
):
    for _ in range(activation.REQUESTS_PER_IDENTIFIER_PER_HOUR):
        assert _ask(client, "pia@example.se", django_capture_on_commit_callbacks).status_code == 302
    limited = _ask(client, "pia@example.se", django_capture_on_commit_callbacks)
    assert limited.status_code == 429
    # one mail, however often the member asks within a few minutes
    assert len(mail.outbox) == 1
    # the same limit for an address that is nobody's: it tells nothing
    for _ in range(activation.REQUESTS_PER_IDENTIFIER_PER_HOUR):
        _ask(client, "nobody@example.se", django_capture_on_commit_callbacks)
    assert _ask(client, "nobody@example.se", django_capture_on_commit_callbacks).status_code == 429
    # and per client, whatever is typed
    for n in range(activation.REQUESTS_PER_CLIENT_PER_HOUR - 12):
        _ask(client, f"someone{n}@example.se", django_capture_on_commit_callbacks)
    assert _ask(client, "last@example.se", django_capture_on_commit_callbacks).status_code == 429


def test_signup_with_an_imported_address_sends_activation_instead_of_a_second_member(
    pia, client, django_capture_on_commit_callbacks
):
    before = _state()
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            "/konto/signup/",
            {
                "first_name": "Pia",
                "last_name": "Ek",
                "email": "Pia@example.se",
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )
    with django_capture_on_commit_callbacks(execute=True):
        ordinary = client.post(
            "/konto/signup/",
            {
                "first_name": "Ny",
                "last_name": "Medlem",
                "email": "ny@example.se",
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )

    assert answer.status_code == ordinary.status_code == 302
    assert answer["Location"] == ordinary["Location"]
    assert Member.objects.filter(user__email__iexact="pia@example.se").count() == 1
    assert Member.objects.count() == before[0] + 1  # only the ordinary sign-up's
    pia_mails = [m for m in mail.outbox if m.to == ["pia@example.se"]]
    assert len(pia_mails) == 1
    # the mail is the activation link; it gives Pia her own membership
    client.logout()
    client.get(_link(pia_mails[0]))
    client.post("/konto/aktivera/losenord/", {"password1": PASSWORD, "password2": PASSWORD})
    assert client.session["_auth_user_id"] == str(pia.user_id)


def test_signup_with_an_address_that_has_a_password_still_gets_allauths_mail(
    member, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/konto/signup/",
            {
                "first_name": "Anna",
                "last_name": "Svensson",
                "email": "anna@example.se",
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )

    assert [m.to for m in mail.outbox] == [["anna@example.se"]]
    assert "/konto/aktivera/" not in mail.outbox[0].body


def test_the_page_is_in_swedish_and_english_and_linked_from_the_login(client):
    swedish = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    english = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    login = client.get("/konto/login/", HTTP_ACCEPT_LANGUAGE="sv").content.decode()

    assert "Aktivera ditt konto" in swedish
    assert "Activate your account" in english
    assert 'href="/konto/aktivera/"' in login


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Pia@Example.se", "email"),
        ("070-111 22 33", "phone"),
        ("0701112233", "phone"),
        ("+46701112233", "phone"),
        ("", None),
        ("hej", None),
    ],
)
def test_identifier_parse(text, kind):
    parsed = activation.identifier_parse(text)
    assert (parsed.kind if parsed else None) == kind


def test_a_membership_number_is_read_as_one(db):
    member = member_create(first_name="A", last_name="B")
    parsed = activation.identifier_parse(member.membership_number)
    assert parsed == activation.Identifier("number", member.membership_number)


# --- at the staff desk ------------------------------------------------------------------


@pytest.fixture
def staff_client() -> Any:
    from django.test import Client

    from members.roles import STORE_STAFF

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(factories.staff_user(role=STORE_STAFF))
    return client


def test_a_till_member_gets_a_login_at_the_desk_and_activates_as_the_same_member(
    staff_client, client, django_capture_on_commit_callbacks
):
    """A member who joined at a till has no login and no email: at the counter, staff type
    the address the member gives; it becomes the member's login and gets the link."""
    from django.urls import reverse

    till_member = member_create(
        first_name="Tove", last_name="Till", phone="0706667788", join_channel="store"
    )
    rf.earned(till_member, 300)
    number, members = till_member.membership_number, Member.objects.count()
    page = staff_client.get(reverse("desk:member", args=[till_member.pk])).content.decode()
    assert "Send an activation link" in page
    assert 'name="email"' in page

    with django_capture_on_commit_callbacks(execute=True):
        sent = staff_client.post(
            reverse("desk:activation-send", args=[till_member.pk]),
            {"email": "Tove@Example.se"},
            follow=True,
        )

    assert "An activation link was sent to tove@example.se." in sent.content.decode()
    assert [m.to for m in mail.outbox] == [["tove@example.se"]]
    till_member.refresh_from_db()
    assert till_member.user is not None
    assert not till_member.user.has_usable_password()
    assert Member.objects.count() == members
    client.get(_link(mail.outbox[0]))
    client.post("/konto/aktivera/losenord/", {"password1": PASSWORD, "password2": PASSWORD})
    assert client.session["_auth_user_id"] == str(till_member.user_id)
    till_member.refresh_from_db()
    assert till_member.membership_number == number
    assert balance_get(member=till_member)["available"] == 300
    assert EmailAddress.objects.get(user=till_member.user).verified
    assert Member.objects.count() == members
    # now the member can log in: the desk offers no activation any more
    page = staff_client.get(reverse("desk:member", args=[till_member.pk])).content.decode()
    assert "Send an activation link" not in page


def test_the_desk_refuses_a_taken_or_invalid_address_and_changes_nothing(
    staff_client, member, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    till_member = member_create(first_name="Tove", last_name="Till")
    url = reverse("desk:activation-send", args=[till_member.pk])
    before = _state()

    with django_capture_on_commit_callbacks(execute=True):
        taken = staff_client.post(url, {"email": "ANNA@example.se"}, follow=True)
        invalid = staff_client.post(url, {"email": "not-an-address"}, follow=True)
        empty = staff_client.post(url, {"email": ""}, follow=True)

    assert "already belongs to another login" in taken.content.decode()
    assert "valid email address" in invalid.content.decode()
    assert "Enter the member&#x27;s email address." in empty.content.decode()
    assert mail.outbox == []
    assert _state() == before


def test_the_desk_sends_an_imported_member_the_link_to_the_address_on_record(
    staff_client, pia, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    url = reverse("desk:activation-send", args=[pia.pk])
    with django_capture_on_commit_callbacks(execute=True):
        first = staff_client.post(url, {"email": "someone-else@example.se"}, follow=True)
        again = staff_client.post(url, follow=True)

    assert "An activation link was sent to pia@example.se." in first.content.decode()
    assert "A link was sent a moment ago." in again.content.decode()
    assert [m.to for m in mail.outbox] == [["pia@example.se"]]
    assert not User.objects.filter(email="someone-else@example.se").exists()


def test_the_desk_refuses_a_member_who_can_log_in(staff_client, member):
    from django.urls import reverse

    answer = staff_client.post(reverse("desk:activation-send", args=[member.pk]), follow=True)

    assert "This member can log in already." in answer.content.decode()
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_one_link_used_in_two_tabs_at_once_activates_once():
    """Real PostgreSQL, two threads: the row locks make the second use wait, read the new
    password and be refused."""
    import threading

    from django.db import connection

    _import("R-1;Rut;Ek;rut@example.se;;;;;;sv")
    member = Member.objects.get(external_id="R-1")
    token = activation.activation_token_make(member)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def use(password: str) -> None:
        try:
            barrier.wait()
            activation.member_activate(token=token, password=password)
            results.append("activated")
        except activation.ActivationLinkInvalidError:
            results.append("refused")
        except BaseException as exc:
            results.append(repr(exc))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=use, args=(password,))
        for password in ("Första-Lösen-2024", "Andra-Lösen-2024")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == ["activated", "refused"]
    assert member.events.filter(kind=Kind.ACCOUNT_ACTIVATED).count() == 1
    user = User.objects.get(member=member)
    assert user.check_password("Första-Lösen-2024") or user.check_password("Andra-Lösen-2024")
