"""The logged-in user and their member in one query (members.auth), sessions read with a plain
statement (members.sessions), and sessions from before those backends kept working."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client

from members.auth import LEGACY_BACKENDS
from members.sessions import SessionStore

pytestmark = pytest.mark.django_db


def test_login_backends_are_members_auth():
    assert "members.auth.ModelBackend" in settings.AUTHENTICATION_BACKENDS
    assert "members.auth.AuthenticationBackend" in settings.AUTHENTICATION_BACKENDS
    for legacy in LEGACY_BACKENDS:
        assert legacy not in settings.AUTHENTICATION_BACKENDS


def test_user_and_member_in_one_query(member, django_assert_num_queries):
    client = Client()
    client.force_login(member.user)
    client.get("/offline/")
    # the session, then the user with the member joined; the navigation reads user.member
    with django_assert_num_queries(2):
        response = client.get("/offline/")
    assert response.context["current_member"] == member


def _session_for(user, backend: str) -> str:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = backend
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    assert store.session_key is not None
    return store.session_key


@pytest.mark.parametrize("legacy", list(LEGACY_BACKENDS))
def test_session_from_before_stays_logged_in(member, legacy):
    key = _session_for(member.user, legacy)
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = key
    response = client.get("/mina-sidor/kort/")
    assert response.status_code == 200
    assert SessionStore(key).load()[BACKEND_SESSION_KEY] == LEGACY_BACKENDS[legacy]


def test_tampered_hash_still_logs_out(member):
    key = _session_for(member.user, "django.contrib.auth.backends.ModelBackend")
    session = SessionStore(key)
    session[HASH_SESSION_KEY] = "0" * 64
    session.save()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = key
    assert client.get("/mina-sidor/kort/").status_code == 302


def test_inactive_user_is_not_loaded(member):
    client = Client()
    client.force_login(member.user)
    type(member.user).objects.filter(pk=member.user.pk).update(is_active=False)
    assert client.get("/mina-sidor/kort/").status_code == 302


def test_session_read_expired_or_unknown():
    assert SessionStore("x" * 32).load() == {}
    store = SessionStore()
    store["a"] = 1
    store.create()
    assert SessionStore(store.session_key).load() == {"a": 1}
    Session.objects.filter(pk=store.session_key).update(expire_date="2000-01-01T00:00:00Z")
    expired = SessionStore(store.session_key)
    assert expired.load() == {}
    assert expired.session_key is None


def test_user_with_member_matches_the_queryset(member, django_assert_num_queries):
    from django.contrib.auth import get_user_model

    from members.auth import ModelBackend

    user_model = get_user_model()
    loaded = ModelBackend().get_user(member.user.pk)
    expected = user_model.objects.select_related("member").get(pk=member.user.pk)
    for field in user_model._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
    for field in type(member)._meta.concrete_fields:
        assert getattr(loaded.member, field.attname) == getattr(expected.member, field.attname)
    assert loaded.member.user is loaded

    staff = user_model.objects.create_user("staff@example.se", "x" * 12, is_staff=True)
    alone = ModelBackend().get_user(staff.pk)
    assert alone == staff
    with django_assert_num_queries(0), pytest.raises(type(member).DoesNotExist):
        alone.member  # noqa: B018 (cached as missing: no query)
    assert ModelBackend().get_user(10**9) is None
    assert ModelBackend().get_user("nonsense") is None
