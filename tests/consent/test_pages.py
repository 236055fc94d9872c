"""Member pages: sign-up choices, the preference centre, "my data"; and the access log."""

from __future__ import annotations

import datetime

import pytest

from consent.models import AccessLog, ConsentEvent, ContactPreferences, Interest, MemberInterest
from consent.selectors import contact_permission, policy_version_current
from members.models import Member
from members.roles import DATA_PROTECTION_OFFICER, MARKETER, STORE_STAFF
from tests import factories
from tests.factories import consent as cf

pytestmark = pytest.mark.django_db
PREFS = "/mina-sidor/installningar/"


@pytest.fixture
def member_client(client, member):
    client.force_login(member.user)
    return client


def _signup(client, **extra):
    data = {
        "first_name": "Sara",
        "last_name": "Nyström",
        "email": "sara@example.se",
        "password1": "ett-langt-losenord-42",
        "password2": "ett-langt-losenord-42",
        **extra,
    }
    return client.post("/konto/signup/", data, HTTP_USER_AGENT="TestBrowser/1.0")


def test_signup_shows_each_purpose_unticked(client):
    html = client.get("/konto/signup/").content.decode()

    for code in (
        "marketing_email",
        "marketing_sms",
        "profiling",
        "analytics",
        "partner_sportresor",
    ):
        assert f'name="consent_{code}"' in html
    assert "checked" not in html
    assert 'name="consent_membership"' not in html


def test_signup_without_any_consent_still_makes_a_member(client):
    response = _signup(client)

    assert response.status_code == 302
    member = Member.objects.get(user__email="sara@example.se")
    assert not ConsentEvent.objects.filter(member=member).exists()


def test_signup_records_each_ticked_purpose_with_the_policy_shown(client):
    policy = policy_version_current()
    _signup(client, consent_marketing_email="on", consent_profiling="on", policy_version=policy.pk)

    member = Member.objects.get(user__email="sara@example.se")
    events = ConsentEvent.objects.filter(member=member).select_related("purpose", "proof")
    assert {e.purpose.code for e in events} == {"marketing_email", "profiling"}
    assert all(e.source == "signup" and e.policy_version == policy for e in events)
    assert all(e.proof.user_agent == "TestBrowser/1.0" for e in events)


def test_consent_toggle_grant_and_withdraw_take_one_post_each(member_client, member):
    granted = member_client.post(
        PREFS + "samtycke/", {"purpose": "marketing_sms", "action": "grant"}
    )
    assert granted.status_code == 302
    assert contact_permission(member=member, purpose="marketing_sms", channel="sms").allowed

    withdrawn = member_client.post(
        PREFS + "samtycke/", {"purpose": "marketing_sms", "action": "withdraw"}
    )
    assert withdrawn.status_code == 302
    assert (
        contact_permission(member=member, purpose="marketing_sms", channel="sms").reason
        == "withdrawn"
    )
    assert ConsentEvent.objects.filter(member=member).count() == 2


def test_consent_toggle_rejects_unknown_purpose_and_membership(member_client, member):
    for purpose in ("nope", "membership"):
        response = member_client.post(
            PREFS + "samtycke/", {"purpose": purpose, "action": "withdraw"}
        )
        assert response.status_code == 302
    assert not ConsentEvent.objects.filter(member=member).exists()


def test_contact_preferences_saved_and_validated(member_client, member):
    ok = member_client.post(
        PREFS + "kontakt/",
        {"max_messages_per_week": "2", "quiet_start": "21:00", "quiet_end": "08:00"},
    )
    assert ok.status_code == 302
    prefs = ContactPreferences.objects.get(member=member)
    assert prefs.max_messages_per_week == 2
    assert prefs.quiet_start == datetime.time(21)

    bad = member_client.post(
        PREFS + "kontakt/", {"max_messages_per_week": "7", "quiet_start": "21:00"}
    )
    assert bad.status_code == 400
    prefs.refresh_from_db()
    assert prefs.max_messages_per_week == 2


def test_pause_and_resume(member_client, member):
    member_client.post(PREFS + "paus/", {"action": "pause"})
    assert ContactPreferences.objects.get(member=member).paused_until is not None

    member_client.post(PREFS + "paus/", {"action": "resume"})
    assert ContactPreferences.objects.get(member=member).paused_until is None


def test_interests_saved(member_client, member):
    running, yoga = Interest.objects.get(code="running"), Interest.objects.get(code="yoga")

    member_client.post(PREFS + "intressen/", {"interests": [running.pk, yoga.pk]})
    member_client.post(PREFS + "intressen/", {"interests": [yoga.pk]})

    assert set(
        MemberInterest.objects.filter(member=member).values_list("interest__code", flat=True)
    ) == {"yoga"}


def test_interests_rejects_unknown(member_client, member):
    response = member_client.post(PREFS + "intressen/", {"interests": ["999999"]})

    assert response.status_code == 400
    assert not MemberInterest.objects.filter(member=member).exists()


@pytest.mark.parametrize("language", ["sv", "en"])
def test_my_data_page_shows_what_is_stored(member_client, member, language):
    cf.granted(member, "marketing_email")
    member_client.cookies["django_language"] = language

    response = member_client.get("/mina-sidor/mina-data/")

    html = response.content.decode()
    assert response.status_code == 200
    assert member.user.email in html
    assert member.last_name in html
    assert ("Erbjudanden via e-post" if language == "sv" else "Offers by email") in html


def test_member_pages_need_login(client):
    for url in (PREFS, "/mina-sidor/mina-data/"):
        assert client.get(url).status_code == 302


# --- who looked at whom ---------------------------------------------------------------------


def test_staff_viewing_a_member_is_logged(client, member):
    staff = factories.staff_user(role=STORE_STAFF)
    client.force_login(staff)

    response = client.get(f"/admin/members/member/{member.pk}/change/")

    assert response.status_code == 200
    log = AccessLog.objects.get()
    assert (log.staff, log.member, log.view) == (staff, member, "view")


@pytest.mark.parametrize(
    "path",
    [
        "/admin/members/member/{pk}/change/",
        "/admin/members/member/{pk}/history/",
        "/admin/members/member/{pk}/consent/",
    ],
)
def test_a_refused_view_of_a_member_is_not_logged(client, member, path):
    # Issue 11: a Marketer (no permission on members) was refused with 403, yet the access
    # log said they had viewed the member.
    url = path.format(pk=member.pk)
    marketer = factories.staff_user(role=MARKETER)
    client.force_login(marketer)

    assert client.get(url).status_code == 403
    assert client.post(url, {}).status_code == 403
    assert not AccessLog.objects.exists()

    # With permission the same page is answered and logged.
    staff = factories.staff_user(role=STORE_STAFF)
    client.force_login(staff)
    assert client.get(url).status_code == 200
    assert list(AccessLog.objects.values_list("staff", "member")) == [(staff.pk, member.pk)]


def test_a_missing_member_is_not_logged(client, member):
    client.force_login(factories.staff_user(role=STORE_STAFF))
    erased = factories.member_with_user()
    Member.objects.filter(pk=erased.pk).update(erased_at=datetime.datetime.now(datetime.UTC))

    assert client.get(f"/admin/members/member/{erased.pk}/consent/").status_code == 403
    assert client.get(f"/admin/members/member/{member.pk + 10_000}/change/").status_code == 302
    assert not AccessLog.objects.exists()


def test_dpo_reads_the_access_log_store_staff_cannot(client, member):
    staff = factories.staff_user(role=STORE_STAFF)
    client.force_login(staff)
    client.get(f"/admin/members/member/{member.pk}/change/")

    assert client.get("/admin/consent/accesslog/").status_code == 403
    client.force_login(factories.staff_user(role=DATA_PROTECTION_OFFICER))
    response = client.get("/admin/consent/accesslog/")
    assert response.status_code == 200
    assert staff.email in response.content.decode()


def test_store_staff_cannot_list_every_member_without_searching(client, member):
    factories.member_with_user()
    client.force_login(factories.staff_user(role=STORE_STAFF))

    browse = client.get("/admin/members/member/")
    search = client.get("/admin/members/member/", {"q": member.user.email})

    assert list(browse.context["cl"].result_list) == []
    assert [m.pk for m in search.context["cl"].result_list] == [member.pk]
    client.force_login(factories.staff_user(role=DATA_PROTECTION_OFFICER))
    assert len(client.get("/admin/members/member/").context["cl"].result_list) == 2


def test_store_staff_record_consent_given_in_store(client, member):
    staff = factories.staff_user(role=STORE_STAFF)
    client.force_login(staff)
    url = f"/admin/members/member/{member.pk}/consent/"

    assert client.get(url).status_code == 200
    response = client.post(url, {"marketing_sms": "yes", "profiling": "", "analytics": "no"})

    assert response.status_code == 302
    [event] = ConsentEvent.objects.filter(member=member)
    assert event.purpose.code == "marketing_sms"
    assert (event.source, event.actor) == ("store", staff)
    change_page = client.get(f"/admin/members/member/{member.pk}/change/").content.decode()
    assert url in change_page


def test_a_refused_change_is_a_message_not_an_error_page(member_client, member, monkeypatch):
    # Given the membership was erased in another tab after this page loaded
    from consent import views
    from consent.errors import MemberErasedError

    def refuse(**kwargs):
        raise MemberErasedError()

    monkeypatch.setattr(views, "consent_set", refuse)

    response = member_client.post(PREFS + "samtycke/", {"purpose": "profiling", "action": "grant"})

    assert response.status_code == 302
    assert response["Location"] == PREFS


def test_store_staff_cannot_list_the_whole_timeline(client, member):
    client.force_login(factories.staff_user(role=STORE_STAFF))

    browse = client.get("/admin/members/activityevent/")
    search = client.get("/admin/members/activityevent/", {"q": member.membership_number})

    assert list(browse.context["cl"].result_list) == []
    assert len(search.context["cl"].result_list) >= 1
