"""Merging two members who are one person (issue 15, docs/merging.md): consent's side.

The most restrictive current state wins per purpose and channel, both histories stay as
proof and the merge is an event of its own; preferences take the stricter setting, interests
the union; requests, shares, logs and used links move; a merged member's old links act on the
survivor; a tombstone is never contacted; erasing the survivor afterwards leaves no personal
value of either person in any text column.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import connection
from django.utils import timezone

from campaigns.authoring import segment_import_csv
from campaigns.models import SegmentMember
from campaigns.segments import members_matching
from consent.erasure_tokens import erasure_confirm_token
from consent.models import (
    AccessLog,
    ConsentEvent,
    ConsentProof,
    ConsentState,
    ContactPreferences,
    Interest,
    MemberInterest,
    PartnerShare,
    PrivacyRequest,
    UsedUnsubscribeToken,
)
from consent.selectors import consent_history, contact_permission
from consent.services.access_log import access_log_record
from consent.services.erasure import (
    member_anonymise,
    privacy_erasure_confirm,
    privacy_erasure_request,
)
from consent.services.export import privacy_export_request
from consent.services.preferences import (
    contact_preferences_update,
    interests_set,
    marketing_pause,
)
from consent.services.retention import members_inactive_since
from consent.services.unsubscribe import unsubscribe_redeem, unsubscribe_token_make
from members.activity import Kind
from members.card import card_qr_payload
from members.errors import UnknownMemberError
from members.merging import member_merge
from members.models import ActivityEvent, Member
from members.roles import ADMINISTRATOR
from members.selectors import member_identify
from members.services import member_create
from tests import factories
from tests.factories.consent import granted, member_with_everything, withdrawn

pytestmark = [pytest.mark.django_db, pytest.mark.privacy]


def _state(member: Member, purpose: str) -> bool | None:
    state = ConsentState.objects.filter(member=member, purpose__code=purpose).first()
    return None if state is None else state.granted


def _interests(*codes: str) -> list[int]:
    return list(Interest.objects.filter(code__in=codes).values_list("pk", flat=True))


def test_member_merge_the_most_restrictive_consent_wins_and_both_histories_stay():
    # Given the survivor said yes to email, SMS, personalisation and nothing about the partner;
    # the merged member said yes to email and the partner, no to SMS, nothing to profiling
    survivor = factories.member_with_user()
    merged = factories.member_with_user()
    granted(survivor, "marketing_email", "marketing_sms", "profiling")
    granted(merged, "marketing_email", "marketing_sms", "partner_sportresor")
    withdrawn(merged, "marketing_sms")
    survivor_events = set(ConsentEvent.objects.filter(member=survivor).values_list("pk", flat=True))
    merged_events = set(ConsentEvent.objects.filter(member=merged).values_list("pk", flat=True))
    merged_proofs = ConsentProof.objects.filter(event__member=merged).count()
    assert merged_proofs == len(merged_events)
    staff = factories.staff_user(role=ADMINISTRATOR)

    # When they are merged
    audit = member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=staff)

    # Then a yes survives only where both said yes; a no, or no answer, wins over a yes
    assert _state(survivor, "marketing_email") is True
    assert _state(survivor, "marketing_sms") is False
    assert _state(survivor, "profiling") is False
    assert _state(survivor, "partner_sportresor") is False
    assert not ConsentState.objects.filter(member=merged).exists()
    assert contact_permission(member=survivor, purpose="marketing_sms", channel="sms").reason in (
        "withdrawn"
    )
    # and every change the merge made is a consent event of its own, by the merging staff,
    # whose timeline event names the merged member
    new_events = ConsentEvent.objects.filter(member=survivor).exclude(pk__in=survivor_events)
    assert sorted(e.purpose.code for e in new_events) == [
        "marketing_sms",
        "partner_sportresor",
        "profiling",
    ]
    assert {(e.granted, e.source, e.actor_id) for e in new_events} == {(False, "system", staff.pk)}
    for event in new_events:
        timeline = ActivityEvent.objects.get(
            kind=Kind.CONSENT_WITHDRAWN, data__consent_event_id=event.pk
        )
        assert timeline.member_id == survivor.pk
        assert timeline.data["merged_member"] == merged.pk
    assert audit.moved["consent.withdrawn_by_merge"] == 3
    # and both histories stay as proof: the merged member's events as written, with their
    # web proof, read as part of the survivor's history
    assert set(ConsentEvent.objects.filter(member=merged).values_list("pk", flat=True)) == (
        merged_events
    )
    assert ConsentProof.objects.filter(event__member=merged).count() == merged_proofs
    history = set(consent_history(member=survivor).values_list("pk", flat=True))
    assert survivor_events | merged_events | {e.pk for e in new_events} == history


def test_member_merge_preferences_take_the_stricter_setting_and_interests_the_union():
    # Given both members with preferences and interests of their own
    survivor, merged = factories.member_with_user(), factories.member_with_user()
    contact_preferences_update(
        member=survivor,
        max_messages_per_week=3,
        quiet_start=datetime.time(22),
        quiet_end=datetime.time(7),
        actor=None,
    )
    contact_preferences_update(
        member=merged,
        max_messages_per_week=1,
        quiet_start=datetime.time(20),
        quiet_end=datetime.time(9),
        actor=None,
    )
    paused = marketing_pause(member=merged, actor=None, days=10).paused_until
    interests_set(member=survivor, interest_ids=_interests("running", "yoga"), actor=None)
    interests_set(member=merged, interest_ids=_interests("yoga", "skiing"), actor=None)

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # Then the survivor gets the lower limit, the longer quiet hours, the pause; all interests
    prefs = ContactPreferences.objects.get(member=survivor)
    assert prefs.max_messages_per_week == 1
    assert (prefs.quiet_start, prefs.quiet_end) == (datetime.time(20), datetime.time(9))
    assert prefs.paused_until == paused
    assert not ContactPreferences.objects.filter(member=merged).exists()
    assert set(
        MemberInterest.objects.filter(member=survivor).values_list("interest__code", flat=True)
    ) == {"running", "yoga", "skiing"}
    assert not MemberInterest.objects.filter(member=merged).exists()


def test_member_merge_moves_preferences_shares_logs_links_and_requests(
    django_capture_on_commit_callbacks: Any,
):
    # Given a till member and the same person online, who has consent data everywhere
    survivor = member_create(first_name="Karin", last_name="Lind", join_channel="store")
    merged = member_with_everything(factories.member_with_user())
    staff = factories.staff_user()
    access_log_record(staff=staff, member_id=merged.pk, view="view")
    unsubscribe_redeem(
        token=unsubscribe_token_make(member=merged, purpose="marketing_email", channel="email")
    )
    with django_capture_on_commit_callbacks(execute=False):
        privacy_export_request(member=merged, actor=merged.user)
    counts = {
        model: model.objects.filter(member=merged).count()
        for model in (PartnerShare, AccessLog, UsedUnsubscribeToken, PrivacyRequest)
    }
    assert all(counts.values())

    audit = member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # Then every consent table of the merged member's is the survivor's now
    for model, count in counts.items():
        assert model.objects.filter(member=survivor).count() == count, model
        assert not model.objects.filter(member=merged).exists(), model
        assert audit.moved[f"consent.{model.__name__}.member"] == count
    assert ContactPreferences.objects.filter(member=survivor).exists()
    assert set(
        MemberInterest.objects.filter(member=survivor).values_list("interest__code", flat=True)
    ) == {
        "running",
        "yoga",
    }
    # and the open export is the survivor's, still open
    export = PrivacyRequest.objects.get(member=survivor, kind=PrivacyRequest.Kind.EXPORT)
    assert export.is_open


def test_member_merge_of_two_open_requests_keeps_the_one_further_along(
    django_capture_on_commit_callbacks: Any,
):
    # Given an erasure confirmed on the merged member and one awaiting confirmation on the
    # survivor
    survivor, merged = factories.member_with_user(), factories.member_with_user()
    with django_capture_on_commit_callbacks(execute=False):
        waiting = privacy_erasure_request(member=survivor, actor=survivor.user)
        confirmed = privacy_erasure_request(member=merged, actor=merged.user)
    privacy_erasure_confirm(token=erasure_confirm_token(confirmed))

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # Then the confirmed one is carried to the survivor and stays scheduled; the other closes
    confirmed.refresh_from_db()
    waiting.refresh_from_db()
    assert (confirmed.member_id, confirmed.status) == (survivor.pk, "scheduled")
    assert (waiting.member_id, waiting.status) == (survivor.pk, "cancelled")


def test_member_merge_a_merged_members_old_links_act_on_the_survivor(
    django_capture_on_commit_callbacks: Any,
):
    # Given a mail to the merged member with an unsubscribe link, and an erasure link
    survivor, merged = factories.member_with_user(), factories.member_with_user()
    granted(survivor, "marketing_email")
    granted(merged, "marketing_email")
    link = unsubscribe_token_make(member=merged, purpose="marketing_email", channel="email")
    with django_capture_on_commit_callbacks(execute=False):
        erasure = privacy_erasure_request(member=merged, actor=merged.user)
    erasure_link = erasure_confirm_token(erasure)

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)
    assert _state(survivor, "marketing_email") is True

    # When the person uses the links after the merge
    result = unsubscribe_redeem(token=link)
    confirmed = privacy_erasure_confirm(token=erasure_link)

    # Then they act on the survivor: no more email, and the erasure is scheduled for them
    assert result.withdrawn
    assert _state(survivor, "marketing_email") is False
    assert (confirmed.member_id, confirmed.status) == (survivor.pk, "scheduled")


def test_member_merge_a_tombstone_is_never_contacted_nor_counted():
    survivor = factories.member_with_user()
    merged = member_create(first_name="Karin", last_name="Lind", join_channel="store")
    granted(survivor, "marketing_email")

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    decision = contact_permission(member=merged.pk, purpose="membership", channel="email")
    assert (decision.allowed, decision.reason) == (False, "merged")
    matching = set(members_matching({}).values_list("pk", flat=True))
    assert survivor.pk in matching
    assert merged.pk not in matching
    # and a list of numbers with the merged member's number lists the survivor, once
    listed = segment_import_csv(
        name="Kunder", content=f"{merged.membership_number}\n{survivor.membership_number}\n"
    )
    rows = SegmentMember.objects.filter(segment=listed).values_list("member_id", flat=True)
    assert list(rows) == [survivor.pk]


def test_retention_never_erases_a_tombstone_on_its_own():
    # Given a merge, and a cut-off after everybody's last activity
    survivor = factories.member_with_user()
    merged = member_create(first_name="Karin", last_name="Lind", join_channel="store")
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    inactive = members_inactive_since(timezone.now() + datetime.timedelta(days=1))

    # Then the survivor is a candidate, the tombstone is not: it goes with its survivor
    assert survivor.pk in inactive
    assert merged.pk not in inactive


# --- erasure after a merge ---------------------------------------------------------------


def _hits(needles: list[str]) -> list[str]:
    """``table.column: needle`` for every text, varchar or JSON column holding a needle."""
    hits = []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name, c.column_name FROM information_schema.columns c
            JOIN information_schema.tables t
                ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
                AND c.data_type = ANY(%s)
            ORDER BY 1, 2
            """,
            [["text", "character varying", "character", "json", "jsonb"]],
        )
        for table, column in cursor.fetchall():
            for needle in needles:
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s',  # noqa: S608
                    [f"%{needle}%"],
                )
                if cursor.fetchone()[0]:
                    hits.append(f"{table}.{column}: {needle}")
    return hits


def _person(
    *, email: str, first: str, last: str, phone: str, birth: datetime.date, postcode: str
) -> Member:
    member = factories.member_with_user(
        email=email,
        first_name=first,
        last_name=last,
        phone=phone,
        birth_date=birth,
        postcode=postcode,
    )
    member_with_everything(member)
    LogEntry.objects.log_actions(
        user_id=factories.staff_user().pk,
        queryset=[member],
        action_flag=CHANGE,
        change_message=f"Changed email to {email} and phone {phone}",
        single_object=True,
    )
    return member


def test_member_anonymise_after_a_merge_leaves_no_value_of_either_person(client: Any):
    # Given two records of one person, each with a login, consents, preferences, interests,
    # a partner share, an admin log line and a live session
    survivor = _person(
        email="lars.kvarsson@example.se",
        first="Lars",
        last="Kvarsson",
        phone="0709998877",
        birth=datetime.date(1971, 2, 3),
        postcode="411 04",
    )
    merged = _person(
        email="lasse.kvarnstrom@jobb.se",
        first="Lasse",
        last="Kvarnström",
        phone="0705554433",
        birth=datetime.date(1971, 2, 4),
        postcode="413 01",
    )
    assert merged.user is not None
    client.force_login(merged.user)
    client.get("/mina-sidor/")
    needles = [
        "lars.kvarsson@example.se",
        "lasse.kvarnstrom@jobb.se",
        "Lasse",  # ("Lars" is in words of the schema's own tables)
        "Kvarsson",
        "Kvarnström",
        "+46709998877",
        "+46705554433",
        "1971-02-03",
        "1971-02-04",
        "411 04",
        "413 01",
        survivor.membership_number,
        merged.membership_number,
        survivor.card_token,
        merged.card_token,
    ]
    before = _hits(needles)
    assert any("lasse.kvarnstrom@jobb.se" in hit for hit in before)
    assert any("+46705554433" in hit for hit in before)
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk, reason="One person")
    merged_card = card_qr_payload(Member.objects.get(pk=merged.pk))

    # When the survivor is erased
    member_anonymise(member_id=survivor.pk)

    # Then no text, varchar or JSON column of any table holds a value of either record
    assert _hits(needles) == []
    # and neither card nor number finds anyone any more
    with pytest.raises(UnknownMemberError):
        member_identify(card=merged_card)
    with pytest.raises(UnknownMemberError):
        member_identify(membership_number=merged.membership_number)
    tombstone = Member.objects.get(pk=merged.pk)
    assert tombstone.erased_at is not None
    assert tombstone.erased_at <= timezone.now()
    # and erasing again changes nothing
    assert member_anonymise(member_id=survivor.pk) is False
