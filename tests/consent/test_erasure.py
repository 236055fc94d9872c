"""Erasure (Art. 17) that keeps the books: nothing personal left, every total unchanged."""

from __future__ import annotations

import datetime
import re

import pytest
import time_machine
from django.contrib.admin.models import CHANGE, LogEntry
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone

from consent.models import ConsentEvent, ConsentProof, ConsentState, PrivacyRequest
from consent.services.erasure import (
    member_anonymise,
    privacy_erasure_cancel,
    privacy_erasure_request,
    privacy_erasures_run_due,
)
from consent.services.requests import privacy_request_process_now, privacy_request_refuse
from members.models import Member
from members.roles import DATA_PROTECTION_OFFICER
from rewards.models import LedgerEntry, PointBalance, Purchase
from tests import factories
from tests.factories.consent import member_with_data_everywhere

pytestmark = [pytest.mark.django_db, pytest.mark.privacy]

TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb")


def _text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = 'public' AND data_type = ANY(%s)
            ORDER BY table_name, column_name
            """,
            [list(TEXT_TYPES)],
        )
        return list(cursor.fetchall())


def _find_everywhere(needles: list[str]) -> list[str]:
    """Every (table.column, needle) where a text, varchar or JSON column contains a needle."""
    hits = []
    with connection.cursor() as cursor:
        for table, column in _text_columns():
            for needle in needles:
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s',  # noqa: S608
                    [f"%{needle}%"],
                )
                if cursor.fetchone()[0]:
                    hits.append(f"{table}.{column}: {needle}")
    return hits


def _needles(member: Member) -> list[str]:
    birth = member.birth_date
    return [
        member.user.email,
        member.user.email.split("@")[0],
        member.phone,  # +46701112233
        member.phone.replace("+46", "0"),  # 0701112233
        "070-111 22 33",
        member.first_name,
        member.last_name,
        birth.isoformat(),  # 1980-05-17
        birth.strftime("%Y%m%d"),
        birth.strftime("%y%m%d"),
        f"{birth.day}/{birth.month} {birth.year}",
        f"{birth.day} maj {birth.year}",
        birth.strftime("%d.%m.%Y"),
        member.membership_number,
        member.postcode,  # 114 55
    ]


def _books() -> dict[str, object]:
    return {
        "ledger": list(
            LedgerEntry.objects.order_by("pk").values_list(
                "pk", "member_id", "delta_pending", "delta_posted", "delta_reserved"
            )
        ),
        "ledger_sum": LedgerEntry.objects.aggregate(
            p=Sum("delta_pending"), q=Sum("delta_posted"), r=Sum("delta_reserved")
        ),
        "balances": list(
            PointBalance.objects.order_by("pk").values_list(
                "member_id", "pending", "posted", "reserved"
            )
        ),
        "purchases": list(
            Purchase.objects.order_by("pk").values_list(
                "pk", "member_id", "total_ore", "points_earned"
            )
        ),
    }


def _snapshot() -> dict[str, list]:
    """Every row of every table, to prove a second run changes nothing."""
    tables = sorted({t for t, _c in _text_columns()})
    out = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'SELECT * FROM "{table}" ORDER BY 1')  # noqa: S608
            out[table] = [tuple(map(str, row)) for row in cursor.fetchall()]
    return out


@pytest.fixture
def victim(store, django_capture_on_commit_callbacks, client):
    member = member_with_data_everywhere(store, django_capture_on_commit_callbacks)
    # Traces outside our own tables: a live session and an admin log entry naming them.
    client.force_login(member.user)
    client.get("/mina-sidor/")
    LogEntry.objects.log_actions(
        user_id=factories.staff_user().pk,
        queryset=[member],
        action_flag=CHANGE,
        change_message=f"Changed email to {member.user.email} and phone {member.phone}",
        single_object=True,
    )
    member.refresh_from_db()
    return member


def test_member_anonymise_leaves_no_personal_data_in_any_text_column(victim):
    # Given a member with data everywhere, found in the database before
    needles = _needles(victim)
    assert len(_find_everywhere(needles[:1])) > 0

    # When they are anonymised
    member_anonymise(member_id=victim.pk)

    # Then no text, varchar or JSON column of any table holds their email, phone, names,
    # birth date (ISO and Swedish formats) or membership number
    assert _find_everywhere(needles) == []
    tombstone = Member.objects.select_related("user").get(pk=victim.pk)
    assert tombstone.erased_at is not None
    assert tombstone.birth_date is None
    assert tombstone.phone == ""
    assert not tombstone.user.is_active
    assert not tombstone.user.has_usable_password()


def test_member_anonymise_keeps_the_books_and_the_consent_record(victim):
    books = _books()
    events = ConsentEvent.objects.filter(member=victim).count()

    member_anonymise(member_id=victim.pk)

    assert _books() == books
    # Consent events stay (plus one system withdrawal per granted purpose); proof is gone
    assert ConsentEvent.objects.filter(member=victim).count() > events
    assert not ConsentProof.objects.filter(event__member=victim).exists()
    assert not ConsentState.objects.filter(member=victim, granted=True).exists()


def test_member_anonymise_twice_changes_nothing_more(victim):
    member_anonymise(member_id=victim.pk)
    before = _snapshot()

    assert member_anonymise(member_id=victim.pk) is False

    assert _snapshot() == before


def test_privacy_erasure_full_journey_confirm_grace_then_beat(
    client, member, django_capture_on_commit_callbacks
):
    client.force_login(member.user)
    mail.outbox.clear()

    # The member asks on the "my data" page: an email with a confirmation link goes out
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/mina-sidor/mina-data/radera/", {"confirm": "yes"})
    assert response.status_code == 302
    [message] = mail.outbox
    link = re.search(r"https?://[^/]+(/radera/bekrafta/[^/\s]+/)", message.body).group(1)

    # Following the link (without login) shows a button; pressing it schedules the erasure
    client.logout()
    assert client.get(link).status_code == 200
    confirmed = client.post(link)
    assert confirmed.status_code == 200
    request = PrivacyRequest.objects.get(member=member, kind="erasure")
    assert request.status == "scheduled"
    assert request.scheduled_for - request.confirmed_at == datetime.timedelta(days=14)
    assert request.due_at > request.requested_at + datetime.timedelta(days=27)

    # Nothing happens during the grace period
    assert privacy_erasures_run_due() == 0
    with time_machine.travel(request.scheduled_for + datetime.timedelta(minutes=1)):
        assert privacy_erasures_run_due() == 1
        assert privacy_erasures_run_due() == 0

    member.refresh_from_db()
    request.refresh_from_db()
    assert member.erased_at is not None
    assert request.status == "done"


def test_privacy_erasure_confirm_email_links_to_the_site_url(
    client, member, django_capture_on_commit_callbacks
):
    # Given the club served on another address than the default
    client.force_login(member.user)
    mail.outbox.clear()

    # When the member asks for erasure
    with (
        override_settings(SITE_URL="http://127.0.0.1:8123"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        client.post("/mina-sidor/mina-data/radera/", {"confirm": "yes"})

    # Then the confirmation link points at that address, and it works
    [message] = mail.outbox
    [link] = re.findall(r"https?://\S+", message.body)
    assert link.startswith("http://127.0.0.1:8123/radera/bekrafta/")
    client.logout()
    assert client.get(link.removeprefix("http://127.0.0.1:8123")).status_code == 200


def test_privacy_erasure_confirm_rejects_a_tampered_link(client, member):
    request = privacy_erasure_request(member=member, actor=member.user)
    from consent.erasure_tokens import erasure_confirm_token

    token = erasure_confirm_token(request)

    response = client.post(f"/radera/bekrafta/{token[:-3]}xyz/")

    assert response.status_code == 400
    request.refresh_from_db()
    assert request.status == "awaiting_confirmation"


def test_privacy_erasure_cancel_during_grace(member):
    request = privacy_erasure_request(member=member, actor=None, origin="staff")
    assert request.status == "scheduled"

    assert privacy_erasure_cancel(member=member, actor=member.user) is True

    with time_machine.travel(request.scheduled_for + datetime.timedelta(days=1)):
        assert privacy_erasures_run_due() == 0
    member.refresh_from_db()
    assert member.erased_at is None


def test_privacy_request_refuse_needs_a_reason_and_is_recorded(member):
    dpo = factories.staff_user(role=DATA_PROTECTION_OFFICER)
    request = privacy_erasure_request(member=member, actor=member.user)

    with pytest.raises(ValidationError):
        privacy_request_refuse(request=request, reason="  ", staff=dpo)
    refused = privacy_request_refuse(
        request=request, reason="Open dispute about a purchase", staff=dpo
    )

    assert refused.status == "refused"
    assert refused.handled_by == dpo


def test_privacy_request_process_now_erases_at_once(member):
    dpo = factories.staff_user(role=DATA_PROTECTION_OFFICER)
    request = privacy_erasure_request(member=member, actor=member.user)

    done = privacy_request_process_now(request=request, staff=dpo)

    assert done.status == "done"
    member.refresh_from_db()
    assert member.erased_at is not None


def test_dpo_sees_requests_with_their_deadline_in_admin(client, member):
    privacy_erasure_request(member=member, actor=member.user)
    dpo = factories.staff_user(role=DATA_PROTECTION_OFFICER)
    client.force_login(dpo)
    client.cookies["django_language"] = "en"

    response = client.get("/admin/consent/privacyrequest/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "legal deadline" in html.lower()
    deadline = timezone.localtime(PrivacyRequest.objects.get(member=member).due_at)
    assert deadline.strftime("%Y-%m-%d") in html
    with time_machine.travel(deadline + datetime.timedelta(days=1)):
        client.force_login(dpo)
        assert "overdue" in client.get("/admin/consent/privacyrequest/").content.decode()


def test_dpo_refuses_in_admin_with_a_reason(client, member):
    request = privacy_erasure_request(member=member, actor=member.user)
    client.force_login(factories.staff_user(role=DATA_PROTECTION_OFFICER))
    data = {"action": "refuse", "_selected_action": [request.pk]}

    form_page = client.post("/admin/consent/privacyrequest/", data)
    assert form_page.status_code == 200
    assert b"reason" in form_page.content
    done = client.post(
        "/admin/consent/privacyrequest/", {**data, "reason": "Identity not verified"}
    )

    assert done.status_code == 302
    request.refresh_from_db()
    assert request.status == "refused"
    assert request.refusal_reason == "Identity not verified"


def test_member_anonymise_leaves_no_fingerprint_to_find_the_number_by(till, member):
    # Given a till purchase naming the member's number, whose fingerprint (a SHA-256 of the
    # request) anyone holding the purchase's rows can recompute for a guessed number
    from rewards.purchases.recording import purchase_fingerprint
    from rewards.purchases.types import LineInput
    from tests.factories import rewards as rf

    rf.base_rule()
    client, _key = till
    number = member.membership_number
    body = {
        "receipt_id": "R-ERASE-1",
        "member": {"membership_number": number},
        "total_ore": 9900,
        "lines": [{"sku": "SOCK", "quantity": 1, "unit_price_ore": 9900}],
    }
    assert client.post("/api/v1/purchases/", body, format="json").status_code == 201
    purchase = Purchase.objects.get(receipt_id="R-ERASE-1")
    lines = [LineInput(sku="SOCK", quantity=1, unit_price_ore=9900)]

    def guess(candidate: str) -> str:
        return purchase_fingerprint(
            receipt_id=purchase.receipt_id,
            member_number=candidate,
            total_ore=purchase.total_ore,
            purchased_at=None,
            lines=lines,
        )

    assert purchase.request_hash == guess(number)
    books = _books()

    # When the member is erased
    member_anonymise(member_id=member.pk)

    # Then the fingerprint is gone, the books are the same, and the till's replay of the
    # old request is refused rather than answered with the erased member's purchase
    purchase.refresh_from_db()
    assert purchase.request_hash == "erased"
    assert purchase.request_hash != guess(number)
    assert _books() == books
    replay = client.post("/api/v1/purchases/", body, format="json")
    assert replay.status_code in (404, 409), replay.json()
    assert Purchase.objects.filter(receipt_id="R-ERASE-1").count() == 1
