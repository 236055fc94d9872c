"""Duplicates (issue 15, docs/duplicates.md): each rule finds its pair, unrelated members are
not paired, "not the same person" is remembered for good, the hooks fire on sign-up and
profile change, and the back-office review queue lists, compares, merges and dismisses for
the roles that may, and refuses the others."""

from __future__ import annotations

import datetime
import json
import threading
import time
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from consent.models import AccessLog
from consent.services.erasure import member_anonymise
from members.duplicates import (
    MIN_SCORE,
    RULE_EMAIL,
    RULE_NAME_BIRTH_DATE,
    RULE_NAME_POSTCODE,
    RULE_PHONE,
    DuplicateDecidedError,
    _email_key_sql,
    duplicate_dismiss,
    duplicate_merge,
    duplicates_find_for_members,
    duplicates_scan,
    email_normalise,
    pair_score,
)
from members.merging import member_merge
from members.models import DuplicateCandidate, Member, MemberMerge, User
from members.roles import ADMINISTRATOR, DATA_PROTECTION_OFFICER, MARKETER, STORE_STAFF
from members.services import member_create, member_update_profile
from tests import factories

pytestmark = pytest.mark.django_db
BIRTH = datetime.date(1980, 5, 1)
QUEUE = "/admin/members/duplicatecandidate/"
_numbers = iter(range(1000000, 9999999, 7919))  # distinct mobile numbers: 070 + seven digits


def _member(email: str | None = None, **fields: Any) -> Member:
    """A member with a login when ``email`` is given, else one who joined at a till."""
    if email is not None:
        user = User.objects.create_user(email=email, password="correct-horse-battery")
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        return member_create(user=user, **fields)
    return member_create(join_channel=Member.JoinChannel.STORE, **fields)


def _pair(a: Member, b: Member) -> DuplicateCandidate | None:
    low, high = sorted((a.pk, b.pk))
    return DuplicateCandidate.objects.filter(member_a_id=low, member_b_id=high).first()


def _rules(candidate: DuplicateCandidate | None) -> set[str]:
    assert candidate is not None, "no pair was proposed"
    return {reason["rule"] for reason in candidate.reasons}


# --- normalising emails -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "mailbox"),
    [
        ("Anna.Svensson+klubb@Gmail.com", "annasvensson@gmail.com"),
        ("a.n.n.a@googlemail.com", "anna@gmail.com"),
        ("anna+news@outlook.com", "anna@outlook.com"),
        ("anna.svensson+x@hotmail.se", "anna.svensson@hotmail.se"),
        ("ANNA.Svensson@Example.SE", "anna.svensson@example.se"),
        ("anna+tag@example.se", "anna+tag@example.se"),
        ("", ""),
    ],
)
def test_email_normalise_drops_dots_and_tags_only_where_the_provider_does(email, mailbox):
    assert email_normalise(email) == mailbox
    # and the SQL the scan uses agrees with it
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_email_key_sql('e')} FROM (SELECT %s::text AS e) t", [email])  # noqa: S608
        assert (cursor.fetchone()[0] or "") == mailbox


# --- each rule finds its pair -------------------------------------------------------------------


def test_email_with_dots_plus_tag_and_capitals_finds_the_pair():
    # Given one person with two gmail logins written differently
    a = _member("Anna.Svensson+klubb@Gmail.com", first_name="Anna", last_name="Svensson")
    b = _member("annasvensson@googlemail.com", first_name="Anna", last_name="Svensson")

    # When the second one is checked
    new = duplicates_find_for_members(member_ids=[b.pk])

    # Then the pair is proposed for the email, which matched only once normalised
    candidate = _pair(a, b)
    assert new == 1
    assert _rules(candidate) == {RULE_EMAIL}
    assert candidate is not None
    assert candidate.reasons[0]["normalised"] is True
    assert candidate.status == DuplicateCandidate.Status.OPEN
    assert candidate.score >= 0.9


def test_dots_count_at_a_provider_that_does_not_ignore_them():
    a = _member("anna.svensson@example.se", first_name="Anna", last_name="Svensson")
    b = _member("annasvensson@example.se", first_name="Anna", last_name="Svensson")

    assert duplicates_find_for_members(member_ids=[a.pk, b.pk]) == 0
    assert _pair(a, b) is None


def test_phone_in_local_form_and_in_e164_finds_the_pair():
    # Given a member who joined at a till with a local number, and a sign-up in E.164
    a = _member(first_name="Karin", last_name="Berg", phone="070-123 45 67")
    b = _member("karin.berg@example.se", first_name="Karin", last_name="Berg", phone="+46701234567")

    duplicates_find_for_members(member_ids=[b.pk])

    assert _rules(_pair(a, b)) == {RULE_PHONE}


@pytest.mark.parametrize(
    ("first", "last"), [("Asa", "Lindstrom"), ("Åsa", "Lindstrm"), ("Lindström", "Åsa")]
)
def test_name_and_birth_date_finds_accents_typos_and_swapped_names(first, last):
    a = _member(first_name="Åsa", last_name="Lindström", birth_date=BIRTH)
    b = _member(first_name=first, last_name=last, birth_date=BIRTH)

    duplicates_find_for_members(member_ids=[a.pk])

    candidate = _pair(a, b)
    assert _rules(candidate) == {RULE_NAME_BIRTH_DATE}
    assert candidate is not None
    assert 0.5 <= candidate.reasons[0]["similarity"] <= 1.0


def test_unaccented_name_and_birth_date_is_a_perfect_name_match():
    a = _member(first_name="Åsa", last_name="Lindström", birth_date=BIRTH)
    b = _member(first_name="Asa", last_name="Lindstrom", birth_date=BIRTH)

    duplicates_scan()

    candidate = _pair(a, b)
    assert candidate is not None
    assert candidate.reasons == [{"rule": RULE_NAME_BIRTH_DATE, "similarity": 1.0}]


def test_name_and_postcode_finds_the_pair():
    a = _member(first_name="Margareta", last_name="Johansson", postcode="118 20")
    b = _member(first_name="Margaretha", last_name="Johansson", postcode="11820")

    duplicates_find_for_members(member_ids=[b.pk])

    assert _rules(_pair(a, b)) == {RULE_NAME_POSTCODE}


def test_more_rules_give_a_higher_score_in_zero_to_one():
    a = _member("eva.lund@gmail.com", first_name="Eva", last_name="Lund", phone="0701112233")
    b = _member(
        "evalund+x@gmail.com",
        first_name="Eva",
        last_name="Lund",
        phone="+46701112233",
        birth_date=BIRTH,
    )
    c = _member(first_name="Eva", last_name="Lund", birth_date=BIRTH, postcode="41101")
    duplicates_scan()

    two_rules, one_rule = _pair(a, b), _pair(b, c)
    assert _rules(two_rules) == {RULE_EMAIL, RULE_PHONE}
    assert _rules(one_rule) == {RULE_NAME_BIRTH_DATE}
    assert two_rules is not None
    assert one_rule is not None
    assert 0 <= one_rule.score < two_rules.score <= 1
    assert pair_score(
        [RULE_EMAIL, RULE_PHONE, RULE_NAME_BIRTH_DATE, RULE_NAME_POSTCODE], 1.0
    ) == pytest.approx(1.0, abs=0.001)
    # and the queue's order is by score
    assert list(DuplicateCandidate.objects.values_list("pk", flat=True)) == [
        two_rules.pk,
        one_rule.pk,
    ]


def test_reasons_hold_no_personal_values():
    a = _member("sara.ek+1@gmail.com", first_name="Sara", last_name="Ek", phone="0709998877")
    b = _member("saraek@gmail.com", first_name="Sara", last_name="Ek", phone="+46709998877")
    duplicates_find_for_members(member_ids=[a.pk])

    stored = json.dumps(_pair(a, b).reasons).lower()  # type: ignore[union-attr]
    for value in ("sara", "ek@", "gmail", "070", "46709998877"):
        assert value not in stored


# --- who is not paired -------------------------------------------------------------------------


def test_unrelated_members_are_not_paired():
    # Given members who share one thing each with Anna, but are other people
    anna = _member(
        "anna.k@example.se",
        first_name="Anna",
        last_name="Karlsson",
        birth_date=BIRTH,
        postcode="11122",
        phone="0701234567",
    )
    _member(first_name="Olof", last_name="Nilsson", birth_date=BIRTH)  # same birth date
    _member(first_name="Fatima", last_name="Haddad", postcode="11122")  # same postcode
    _member(first_name="Erik", last_name="Lundgren", phone="+46701234567")  # a shared phone
    _member("anna.k+2@example.se", first_name="Anna", last_name="Karlsson")  # not a gmail

    assert duplicates_find_for_members(member_ids=[anna.pk]) == 0
    assert duplicates_scan() == 0
    assert not DuplicateCandidate.objects.exists()


def test_erased_members_and_tombstones_are_never_compared():
    a = _member(first_name="Nils", last_name="Holm", birth_date=BIRTH)
    erased = _member(first_name="Nils", last_name="Holm", birth_date=BIRTH)
    survivor = _member(first_name="Stina", last_name="Holm", phone="0705550001")
    tombstone = _member(first_name="Nils", last_name="Holm", birth_date=BIRTH)
    member_anonymise(member_id=erased.pk)
    member_merge(survivor_id=survivor.pk, merged_id=tombstone.pk)

    duplicates_scan()
    duplicates_find_for_members(member_ids=[a.pk, erased.pk, tombstone.pk])

    assert _pair(a, erased) is None
    assert _pair(a, tombstone) is None


# --- decisions are remembered -------------------------------------------------------------------


def test_not_the_same_person_never_returns_after_a_rescan_or_a_profile_change(
    django_capture_on_commit_callbacks,
):
    # Given twins with one birth date and similar names, marked "not the same person"
    a = _member(first_name="Linnea", last_name="Ström", birth_date=BIRTH, postcode="22100")
    b = _member(first_name="Linnéa", last_name="Ström", birth_date=BIRTH)
    duplicates_find_for_members(member_ids=[b.pk])
    candidate = _pair(a, b)
    assert candidate is not None
    staff = factories.staff_user(role=DATA_PROTECTION_OFFICER)
    duplicate_dismiss(candidate_id=candidate.pk, actor=staff)

    # When the nightly scan runs, and one twin's profile changes to match even more
    assert duplicates_scan() == 0
    with django_capture_on_commit_callbacks(execute=True):
        member_update_profile(member=b, actor=b.user, postcode="22100", first_name="Linnea")

    # Then the pair is still the one dismissed row, with who decided and when
    rows = DuplicateCandidate.objects.all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.status, row.decided_by, row.decided_at is not None) == ("dismissed", staff, True)
    # and a dismissed pair cannot be merged afterwards
    with pytest.raises(DuplicateDecidedError):
        duplicate_merge(candidate_id=row.pk, survivor_id=a.pk, actor=staff)


def test_an_open_pair_found_again_is_refreshed_not_repeated():
    a = _member(first_name="Ida", last_name="Sjöberg", birth_date=BIRTH)
    b = _member(first_name="Ida", last_name="Sjöberg", birth_date=BIRTH)
    duplicates_scan()
    first = _pair(a, b)
    member_update_profile(member=b, actor=None, phone="0703334455")
    member_update_profile(member=a, actor=None, phone="0703334455")

    assert duplicates_scan() == 0

    again = _pair(a, b)
    assert again is not None
    assert first is not None
    assert again.pk == first.pk
    assert _rules(again) == {RULE_NAME_BIRTH_DATE, RULE_PHONE}
    assert again.score > first.score


def test_a_merge_closes_the_merged_members_pairs_and_keeps_their_decisions(
    django_capture_on_commit_callbacks,
):
    # Given S and M, one person; M was found with X (dismissed: another person) and with Y
    s = _member(first_name="Maja", last_name="Ekström", birth_date=BIRTH)
    m = _member(
        first_name="Maja",
        last_name="Ekström",
        birth_date=BIRTH,
        phone="0706660002",
        postcode="55111",
    )
    x = _member(first_name="Maja", last_name="Ekström", postcode="55111")
    y = _member(first_name="Maja", last_name="Ekström", phone="+46706660002")
    duplicates_scan()
    assert {_pair(s, x), _pair(s, y)} == {None}
    staff = factories.staff_user(role=DATA_PROTECTION_OFFICER)
    dismissed = _pair(m, x)
    assert dismissed is not None
    assert _pair(m, y) is not None
    duplicate_dismiss(candidate_id=dismissed.pk, actor=staff)

    # When M is merged into S through the pair's review
    pair = _pair(s, m)
    assert pair is not None
    with django_capture_on_commit_callbacks(execute=True):
        audit = duplicate_merge(candidate_id=pair.pk, survivor_id=s.pk, actor=staff, reason="Same")

    # Then the pair is merged, by the staff member
    pair.refresh_from_db()
    assert (pair.status, pair.decided_by, audit.survivor_id) == ("merged", staff, s.pk)
    # and "M is not X" now says "S is not X", though S took M's postcode
    carried = _pair(s, x)
    assert carried is not None
    assert (carried.status, carried.decided_by) == ("dismissed", staff)
    # and M's open pair with Y is gone; S, with M's phone now, is found with Y afresh
    assert _pair(m, y) is None
    found = _pair(s, y)
    assert found is not None
    assert found.status == "open"


def test_a_pair_below_the_minimum_score_is_not_proposed():
    assert pair_score([RULE_PHONE], 0.0) < MIN_SCORE <= pair_score([RULE_PHONE], 0.2)


# --- hooks ----------------------------------------------------------------------------------------


def test_sign_up_looks_for_the_till_member_the_person_already_is(
    client, django_capture_on_commit_callbacks
):
    # Given a member who joined at a till with a mobile number
    till = _member(first_name="Astrid", last_name="Lindqvist", phone="070-765 43 21")

    # When the same person signs up online with that number
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/konto/signup/",
            {
                "first_name": "Astrid",
                "last_name": "Lindqvist",
                "email": "astrid.l@example.se",
                "password1": "Grön-Tulpan-1987",
                "password2": "Grön-Tulpan-1987",
                "phone": "+46 70 765 43 21",
                "birth_date": "",
                "home_store": "",
            },
            HTTP_ACCEPT_LANGUAGE="sv",
        )

    # Then the new member and the till member are proposed as a pair
    assert response.status_code == 302
    online = Member.objects.get(user__email="astrid.l@example.se")
    assert _rules(_pair(till, online)) == {RULE_PHONE}


def test_profile_change_looks_for_duplicates(client, django_capture_on_commit_callbacks):
    till = _member(first_name="Gustav", last_name="Wik", birth_date=BIRTH)
    online = factories.member_with_user(first_name="Gustav", last_name="Wik")
    client.force_login(online.user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/mina-sidor/profil/",
            {
                "first_name": "Gustav",
                "last_name": "Wik",
                "phone": "",
                "birth_date": BIRTH.isoformat(),
                "home_store": "",
                "preferred_language": "sv",
            },
        )

    assert response.status_code == 302
    assert _rules(_pair(till, online)) == {RULE_NAME_BIRTH_DATE}


def test_creating_a_member_or_changing_a_compared_field_queues_a_check(monkeypatch):
    queued: list[list[int]] = []
    monkeypatch.setattr(
        "members.services.duplicates_find_later",
        lambda *, member_ids: queued.append(list(member_ids)),
    )
    member = factories.member_with_user()
    assert queued == [[member.pk]]
    queued.clear()

    member_update_profile(member=member, actor=None, preferred_language="en")
    assert queued == []
    member_update_profile(member=member, actor=None, last_name="Nyberg")
    assert queued == [[member.pk]]


# --- the review queue ----------------------------------------------------------------------------


@pytest.fixture
def twins() -> tuple[Member, Member, DuplicateCandidate]:
    """One person twice: a till member and an online member with the same phone."""
    till = _member(first_name="Åsa", last_name="Lindström", phone="070-222 33 44", birth_date=BIRTH)
    online = _member(
        "asa.lindstrom@example.se",
        first_name="Asa",
        last_name="Lindstrom",
        phone="+46702223344",
        birth_date=BIRTH,
    )
    duplicates_find_for_members(member_ids=[online.pk])
    candidate = _pair(till, online)
    assert candidate is not None
    return till, online, candidate


def _staff_client(client: Any, role: str) -> Any:
    client.force_login(factories.staff_user(role=role))
    return client


@pytest.mark.parametrize("role", [DATA_PROTECTION_OFFICER, ADMINISTRATOR])
def test_queue_lists_open_pairs_with_reasons_in_words(client, twins, role):
    till, online, _candidate = twins
    _staff_client(client, role)

    response = client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    page = response.content.decode()
    assert till.formatted_membership_number in page
    assert online.formatted_membership_number in page
    assert "The same mobile number" in page
    assert "The same birth date and names 100 % alike" in page


def test_queue_leaves_out_decided_pairs_until_asked(client, twins):
    till, _online, candidate = twins
    staff = factories.staff_user(role=DATA_PROTECTION_OFFICER)
    duplicate_dismiss(candidate_id=candidate.pk, actor=staff)
    client.force_login(staff)

    assert till.formatted_membership_number not in client.get(QUEUE).content.decode()
    dismissed = client.get(QUEUE + "?status=dismissed").content.decode()
    assert till.formatted_membership_number in dismissed


def test_review_page_shows_both_members_side_by_side_and_logs_the_access(client, twins, store):
    till, online, candidate = twins
    from tests.factories import rewards as rf

    rf.earned(online, 120)
    rf.purchase(store=store, member=till)
    staff = factories.staff_user(role=DATA_PROTECTION_OFFICER)
    client.force_login(staff)

    response = client.get(f"{QUEUE}{candidate.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    page = response.content.decode()
    for text in (
        "Åsa Lindström",
        "Asa Lindstrom",
        "asa.lindstrom@example.se",
        "Points available",
        "120",
        "Purchases",
        "Consents",
        "Last activity",
        "Merge into this one",
        "Not the same person",
    ):
        assert text in page, text
    assert page.count('name="survivor"') == 2
    logged = AccessLog.objects.filter(staff=staff, view="duplicate_review")
    assert sorted(logged.values_list("member_id", flat=True)) == sorted([till.pk, online.pk])


def test_merge_keeps_the_member_clicked_and_goes_to_its_record(client, twins):
    till, online, candidate = twins
    staff = factories.staff_user(role=DATA_PROTECTION_OFFICER)
    client.force_login(staff)

    # When the DPO merges into the till member (the first column)
    response = client.post(
        f"{QUEUE}{candidate.pk}/merge/",
        {"survivor": till.pk, "reason": "Samma telefon och födelsedag", "confirm": "on"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    # Then the online member is merged into the till member, and the page is the survivor's
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:members_member_change", args=[till.pk])
    online.refresh_from_db()
    assert online.merged_into_id == till.pk
    audit = MemberMerge.objects.get(merged=online)
    assert (audit.survivor_id, audit.actor, audit.reason) == (
        till.pk,
        staff,
        "Samma telefon och födelsedag",
    )
    candidate.refresh_from_db()
    assert (candidate.status, candidate.decided_by) == ("merged", staff)
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Merged: membership" in page
    assert till.formatted_membership_number in page


def test_merge_into_the_second_member_keeps_the_second(client, twins):
    till, online, candidate = twins
    _staff_client(client, ADMINISTRATOR)

    client.post(
        f"{QUEUE}{candidate.pk}/merge/",
        {"survivor": online.pk, "reason": "Same person", "confirm": "on"},
    )

    till.refresh_from_db()
    assert till.merged_into_id == online.pk


@pytest.mark.parametrize(
    "data",
    [
        {"reason": "Same person"},  # not confirmed
        {"confirm": "on"},  # no reason
        {"reason": "Same person", "confirm": "on", "survivor": "0"},  # not one of the two
    ],
)
def test_merge_without_confirmation_reason_or_a_member_of_the_pair_merges_nothing(
    client, twins, data
):
    till, _online, candidate = twins
    _staff_client(client, DATA_PROTECTION_OFFICER)

    response = client.post(f"{QUEUE}{candidate.pk}/merge/", {"survivor": till.pk, **data})

    assert response.status_code == 302
    assert response["Location"] == f"{QUEUE}{candidate.pk}/change/"
    assert not MemberMerge.objects.exists()
    candidate.refresh_from_db()
    assert candidate.status == "open"


def test_not_the_same_person_is_remembered(client, twins):
    _till, _online, candidate = twins
    staff = factories.staff_user(role=DATA_PROTECTION_OFFICER)
    client.force_login(staff)

    response = client.post(f"{QUEUE}{candidate.pk}/dismiss/")

    assert response.status_code == 302
    candidate.refresh_from_db()
    assert (candidate.status, candidate.decided_by) == ("dismissed", staff)
    assert candidate.decided_at is not None
    duplicates_scan()
    assert DuplicateCandidate.objects.get().status == "dismissed"


@pytest.mark.parametrize("role", [STORE_STAFF, MARKETER])
def test_store_staff_and_marketers_get_403_everywhere(client, twins, role):
    till, _online, candidate = twins
    _staff_client(client, role)

    assert client.get(QUEUE).status_code == 403
    assert client.get(f"{QUEUE}{candidate.pk}/change/").status_code == 403
    merge = client.post(
        f"{QUEUE}{candidate.pk}/merge/",
        {"survivor": till.pk, "reason": "x", "confirm": "on"},
    )
    dismiss = client.post(f"{QUEUE}{candidate.pk}/dismiss/")

    assert (merge.status_code, dismiss.status_code) == (403, 403)
    candidate.refresh_from_db()
    assert candidate.status == "open"
    assert not MemberMerge.objects.exists()
    assert not AccessLog.objects.filter(view="duplicate_review").exists()


def test_queue_page_queries_do_not_grow_with_the_pairs(client, django_assert_max_num_queries):
    # Given the queue with three pairs, counted once
    def pairs(n: int) -> None:
        for _ in range(n):
            first = _member(first_name="Karl", last_name="Ek", phone=f"070{next(_numbers)}")
            second = _member(first_name="Karl", last_name="Ek", phone=first.phone)
            duplicates_find_for_members(member_ids=[second.pk])

    client.force_login(factories.staff_user(role=DATA_PROTECTION_OFFICER))
    pairs(3)
    with CaptureQueriesContext(connection) as three:
        assert client.get(QUEUE).status_code == 200

    # When there are ten more, the page asks as many questions
    pairs(10)
    with django_assert_max_num_queries(len(three.captured_queries)):
        response = client.get(QUEUE)
    assert response.content.decode().count("↔") == 13


# --- races ----------------------------------------------------------------------------------------


@pytest.fixture
def merge_paused() -> Any:
    """A merge step that holds the merge (members and the pair locked) until released."""
    from members import merging

    inside, release = threading.Event(), threading.Event()

    def hold(survivor: Member, merged: Member) -> dict[str, int]:
        inside.set()
        assert release.wait(10)
        return {}

    merging.merge_step_register(name="test.hold", run=hold, order=99)
    yield inside, release
    merging._steps.pop("test.hold", None)


def _in_thread(work: Any, outcomes: list[Any]) -> threading.Thread:
    def run() -> None:
        try:
            outcomes.append(work())
        except Exception as exc:  # the outcome is what the test compares
            outcomes.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_not_the_same_person_while_the_pair_is_being_merged_is_refused(merge_paused):
    # Given an open pair, and a merge of it holding the members and the pair
    inside, release = merge_paused
    a = _member(first_name="Olle", last_name="Ström", birth_date=BIRTH)
    b = _member(first_name="Olle", last_name="Ström", birth_date=BIRTH)
    duplicates_find_for_members(member_ids=[b.pk])
    candidate = _pair(a, b)
    assert candidate is not None
    staff = factories.staff_user(role=DATA_PROTECTION_OFFICER)
    merged: list[Any] = []
    dismissed: list[Any] = []
    merge = _in_thread(
        lambda: duplicate_merge(candidate_id=candidate.pk, survivor_id=a.pk, actor=staff),
        merged,
    )
    assert inside.wait(10)

    # When another reviewer says "not the same person" meanwhile
    dismiss = _in_thread(
        lambda: duplicate_dismiss(candidate_id=candidate.pk, actor=staff), dismissed
    )
    time.sleep(0.3)
    assert dismiss.is_alive(), "the dismissal waits on the pair's lock"
    release.set()
    merge.join(10)
    dismiss.join(10)

    # Then the merge stands and the late dismissal is refused, changing nothing
    assert isinstance(merged[0], MemberMerge)
    assert isinstance(dismissed[0], DuplicateDecidedError)
    candidate.refresh_from_db()
    assert candidate.status == "merged"
    assert MemberMerge.objects.count() == 1


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_two_reviewers_merging_one_pair_both_ways_merge_once(merge_paused):
    # Given an open pair, and a merge into A holding the members and the pair
    inside, release = merge_paused
    a = _member(first_name="Vera", last_name="Nord", birth_date=BIRTH)
    b = _member(first_name="Vera", last_name="Nord", birth_date=BIRTH)
    duplicates_find_for_members(member_ids=[b.pk])
    candidate = _pair(a, b)
    assert candidate is not None
    first: list[Any] = []
    second: list[Any] = []
    into_a = _in_thread(
        lambda: duplicate_merge(candidate_id=candidate.pk, survivor_id=a.pk, actor=None), first
    )
    assert inside.wait(10)

    # When a second reviewer merges the same pair into B at the same time
    into_b = _in_thread(
        lambda: duplicate_merge(candidate_id=candidate.pk, survivor_id=b.pk, actor=None), second
    )
    time.sleep(0.3)
    assert into_b.is_alive(), "the second merge waits on the members' locks"
    release.set()
    into_a.join(10)
    into_b.join(10)

    # Then one merge happened, into A; the second was refused
    assert isinstance(first[0], MemberMerge)
    assert isinstance(second[0], DuplicateDecidedError)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.merged_into_id, b.merged_into_id) == (None, a.pk)
    assert MemberMerge.objects.count() == 1
