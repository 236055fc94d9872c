"""Login protection over HTTP, as tried from the outside (docs/security.md): the back-office
log-in is limited per account+client, failures behind the proxy are counted per client (never
per proxy), and password reset and sign-up never tell whether an address is registered."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from members.models import User
from tests import factories

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent.parent
PROXY = "10.0.0.2"  # the one address every request arrives from behind the proxy
ATTACKER = "203.0.113.66"
MEMBER_HOME = "198.51.100.7"
PASSWORD = "correct-horse-battery"
ADMIN_LOGIN = "/admin/login/?next=/admin/"
MEMBER_LOGIN = "/konto/login/"


@pytest.fixture(scope="module")
def production_proxy_count() -> int:
    """How many proxies production trusts by default, read from its own settings module."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "x.example",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"),
        "EMAIL_URL": "smtp://x",
    }
    env.pop("TRUSTED_PROXY_COUNT", None)
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.ALLAUTH_TRUSTED_PROXY_COUNT)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.fixture
def behind_proxy(settings, production_proxy_count):
    """The test server configured as production is, behind one proxy."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = production_proxy_count
    return settings


def _via_proxy(client_ip: str) -> dict[str, str]:
    return {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": client_ip}


def _admin_login(client, email: str, password: str, **meta: str):
    return client.post(ADMIN_LOGIN, {"username": email, "password": password}, **meta)


def _member_login(client, email: str, password: str, **meta: str):
    return client.post(MEMBER_LOGIN, {"login": email, "password": password}, **meta)


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- the back-office log-in ------------------------------------------------------------------


def test_admin_login_locks_after_repeated_wrong_passwords_even_with_the_right_one(client):
    # Given the administrator's account
    admin = factories.staff_user(email="admin@example.se", superuser=True)

    # When an attacker tries thirty wrong passwords from one client
    answers = [
        _admin_login(client, admin.email, f"wrong-{n}", REMOTE_ADDR=ATTACKER).status_code
        for n in range(30)
    ]

    # Then they are stopped long before the thirtieth (429: locked out)
    assert 429 in answers
    assert answers.index(429) <= 5
    # And the right password from that client does not log in either
    response = _admin_login(client, admin.email, PASSWORD, REMOTE_ADDR=ATTACKER)
    assert response.status_code != 302
    assert not _logged_in(client)


def test_admin_login_lock_is_per_account_and_client(client):
    # Given an attacker who locked the administrator's account from their client
    admin = factories.staff_user(email="admin@example.se", superuser=True)
    for n in range(6):
        _admin_login(client, admin.email, f"wrong-{n}", REMOTE_ADDR=ATTACKER)

    # When the administrator logs in from their own client
    response = _admin_login(client, admin.email, PASSWORD, REMOTE_ADDR=MEMBER_HOME)

    # Then they are in
    assert response.status_code == 302
    assert _logged_in(client)


def test_admin_login_counts_the_client_behind_the_proxy(client, behind_proxy):
    # Given an attacker behind the proxy who locked the administrator's account
    admin = factories.staff_user(email="admin@example.se", superuser=True)
    for n in range(6):
        _admin_login(client, admin.email, f"wrong-{n}", **_via_proxy(ATTACKER))
    assert _admin_login(client, admin.email, PASSWORD, **_via_proxy(ATTACKER)).status_code == 429

    # When the administrator logs in through the same proxy from their own client
    response = _admin_login(client, admin.email, PASSWORD, **_via_proxy(MEMBER_HOME))

    # Then they are in: the lock is on the attacker's client, not the proxy's address
    assert response.status_code == 302


def test_admin_login_cannot_dodge_the_lock_with_a_forged_forwarded_for(client, behind_proxy):
    # Given an attacker who prepends a new made-up address to X-Forwarded-For on every try
    admin = factories.staff_user(email="admin@example.se", superuser=True)
    for n in range(6):
        _admin_login(client, admin.email, f"wrong-{n}", **_via_proxy(f"192.0.2.{n}, {ATTACKER}"))

    # When they try the right password with yet another made-up address
    response = _admin_login(client, admin.email, PASSWORD, **_via_proxy(f"192.0.2.99, {ATTACKER}"))

    # Then they are still locked: only the entry our proxy appended counts
    assert response.status_code == 429
    assert not _logged_in(client)


# --- the members' log-in ---------------------------------------------------------------------


def test_member_login_behind_proxy_not_locked_out_by_failures_on_other_accounts(
    client, behind_proxy, member
):
    # Given an attacker behind the proxy trying wrong passwords on ten different accounts
    for n in range(10):
        factories.member_with_user(email=f"victim{n}@example.se")
        _member_login(client, f"victim{n}@example.se", "wrong-password", **_via_proxy(ATTACKER))

    # When a member logs in with the right password through the same proxy
    response = _member_login(client, member.user.email, PASSWORD, **_via_proxy(MEMBER_HOME))

    # Then they are in
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _logged_in(client)


def test_member_login_works_from_own_client_while_account_is_attacked_elsewhere(
    client, behind_proxy, member
):
    # Given an attacker who locked the member's account from their own client
    for n in range(6):
        _member_login(client, member.user.email, f"wrong-{n}", **_via_proxy(ATTACKER))
    locked = _member_login(client, member.user.email, PASSWORD, **_via_proxy(ATTACKER))
    assert locked.status_code == 429
    assert not _logged_in(client)

    # When the member logs in from their own client
    response = _member_login(client, member.user.email, PASSWORD, **_via_proxy(MEMBER_HOME))

    # Then they are in
    assert response.status_code == 302
    assert _logged_in(client)


@pytest.mark.parametrize(
    ("language", "text"),
    [("sv", "För många misslyckade inloggningsförsök"), ("en", "Too many failed log-in attempts")],
)
def test_member_lockout_page_says_so_in_the_members_language(client, member, language, text):
    for n in range(6):
        _member_login(client, member.user.email, f"wrong-{n}", HTTP_ACCEPT_LANGUAGE=language)
    response = _member_login(client, member.user.email, PASSWORD, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 429
    assert text in response.content.decode()


# --- enumeration -----------------------------------------------------------------------------


def test_password_reset_answers_the_same_for_known_and_unknown_addresses(client, member):
    known = client.post("/konto/password/reset/", {"email": member.user.email})
    unknown = client.post("/konto/password/reset/", {"email": "nobody@example.se"})

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]


def test_signup_with_a_registered_address_looks_like_any_signup_and_mails_the_owner(
    client, django_capture_on_commit_callbacks, member
):
    # Given a registered address and a new one
    data = {
        "first_name": "Astrid",
        "last_name": "Lindqvist",
        "password1": "Grön-Tulpan-1987",
        "password2": "Grön-Tulpan-1987",
        "phone": "",
        "birth_date": "",
        "home_store": "",
    }
    with django_capture_on_commit_callbacks(execute=True):
        fresh = client.post("/konto/signup/", {**data, "email": "astrid@example.se"})
    client.logout()
    mail.outbox.clear()
    users_before = User.objects.count()

    # When someone signs up with the registered one
    with django_capture_on_commit_callbacks(execute=True):
        taken = client.post("/konto/signup/", {**data, "email": member.user.email.upper()})

    # Then the answer is the same as for a new address, and nothing is created
    assert taken.status_code == fresh.status_code == 302
    assert taken["Location"] == fresh["Location"]
    assert User.objects.count() == users_before
    assert not EmailAddress.objects.filter(email=member.user.email.upper()).exists()
    # And the owner of the address is told by mail instead
    assert [m.to for m in mail.outbox] == [[member.user.email]]
