"""Consent and privacy state built through the services, as a member or staff would."""

from __future__ import annotations

import datetime
from typing import Any

from consent.models import ConsentEvent, Interest, PrivacyRequest
from consent.services.consent import consent_set
from consent.services.export import privacy_export_request
from consent.services.preferences import (
    contact_preferences_update,
    interests_set,
    marketing_pause,
    partner_share_record,
)
from members.models import Member, Store

WEB_PROOF = {"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0 (test phone)"}


def granted(
    member: Member, *purposes: str, source: str = ConsentEvent.Source.WEB, **extra: Any
) -> list[ConsentEvent]:
    """Grant each purpose from the member's own web page (with IP and user agent)."""
    proof = {**WEB_PROOF, **extra}
    events = []
    for purpose in purposes:
        event = consent_set(
            member=member, purpose=purpose, granted=True, source=source, actor=member.user, **proof
        )
        if event is not None:
            events.append(event)
    return events


def withdrawn(member: Member, purpose: str, **extra: Any) -> ConsentEvent | None:
    return consent_set(
        member=member,
        purpose=purpose,
        granted=False,
        source=ConsentEvent.Source.WEB,
        actor=member.user,
        **{**WEB_PROOF, **extra},
    )


def preferences(
    member: Member,
    *,
    per_week: int | None = 2,
    quiet: tuple[datetime.time, datetime.time] | None = (datetime.time(21), datetime.time(8)),
) -> None:
    contact_preferences_update(
        member=member,
        max_messages_per_week=per_week,
        quiet_start=quiet[0] if quiet else None,
        quiet_end=quiet[1] if quiet else None,
        actor=member.user,
    )


def member_with_everything(member: Member) -> Member:
    """Put data in every consent-owned personal field of ``member`` (export and erasure tests)."""
    granted(member, "marketing_email", "marketing_sms", "profiling", "partner_sportresor")
    withdrawn(member, "marketing_sms")
    preferences(member)
    marketing_pause(member=member, actor=member.user)
    interests_set(
        member=member,
        interest_ids=list(
            Interest.objects.filter(code__in=["running", "yoga"]).values_list("pk", flat=True)
        ),
        actor=member.user,
    )
    partner_share_record(
        member=member,
        purpose="partner_sportresor",
        data_categories=["name", "email"],
        reference="SR-4711",
    )
    return member


def export_requested(member: Member) -> PrivacyRequest:
    return privacy_export_request(member=member, actor=member.user)


def member_with_data_everywhere(store: Store, capture: Any) -> Member:
    """A member with a value in every registered personal-data field of every app.

    ``capture`` is pytest-django's ``django_capture_on_commit_callbacks``. Apps that register
    new personal fields add the rows that fill them here (campaigns: segments, deliveries,
    offers, inbox messages, contact budget), or the export test reports them as unseeded."""
    from django.utils import timezone

    from consent.erasure_tokens import erasure_confirm_token
    from consent.services.access_log import access_log_record
    from consent.services.erasure import privacy_erasure_confirm, privacy_erasure_request
    from consent.services.requests import privacy_request_refuse
    from consent.services.unsubscribe import unsubscribe_redeem, unsubscribe_token_make
    from members.models import User
    from members.services import card_token_rotate
    from members.services import member_create as member_create_early
    from rewards.ledger.points import points_adjust
    from rewards.ledger.reservations import points_reserve
    from rewards.models import Category, MemberTier, Product, Tier
    from rewards.purchases.claims import purchase_claim
    from rewards.purchases.returns import purchase_return
    from rewards.rules.events import checkin_record
    from tests import factories
    from tests.factories import rewards as rf

    # someone who joined before her (the duplicate finder pairs them below)
    earlier = member_create_early(first_name="Britt", last_name="Exportsdotter")
    member = factories.member_with_user(
        email="karin.export@example.se",
        first_name="Karin",
        last_name="Exportsson",
        phone="0701112233",
        birth_date=datetime.date(1980, 5, 17),
        postcode="114 55",
        home_store=store,
    )
    # The id an imported member had in the old system (members.imports).
    Member.objects.filter(pk=member.pk).update(external_id="K-EXPORT-1")
    User.objects.filter(pk=member.user_id).update(
        last_login=timezone.now(), first_name="Karin", last_name="Exportsson"
    )
    card_token_rotate(member=member, actor=member.user)
    # members: the same person joined in store too, and staff merged that membership into
    # this one before any consent was given (members.merging; its audit row is personal
    # data the export carries).
    from members.merging import member_merge
    from members.services import member_create

    twin = member_create(first_name="Karin", last_name="Exportsson", join_channel="store")
    member_merge(
        survivor_id=member.pk,
        merged_id=twin.pk,
        actor=factories.staff_user(),
        reason="Karin Exportsson twice",
    )
    # members: the duplicate finder proposed her twice; staff found one pair two people
    from members.models import DuplicateCandidate

    for other in (earlier, member_create(first_name="Britt", last_name="Exportson")):
        low, high = sorted((member.pk, other.pk))
        DuplicateCandidate.objects.create(
            member_a_id=low,
            member_b_id=high,
            score=0.7,
            reasons=[{"rule": "name_birth_date", "similarity": 0.8}],
            status=DuplicateCandidate.Status.DISMISSED,
            decided_at=timezone.now(),
            decided_by=factories.staff_user(),
        )
    # members: a back-office import whose report rejected a line naming her (and someone else)
    from members.models import ImportJob

    ImportJob.objects.create(
        kind="members",
        file_name="gamla-klubben.csv",
        status=ImportJob.Status.DONE,
        report=[
            'rad 3; email; "karin.export@example.se"; Adressen finns redan.',
            'rad 4; phone; "070-999"; Inget giltigt mobilnummer.',
        ],
    )
    member_with_everything(member)
    staff = factories.staff_user()
    rf.loyalty_referred(member)  # rewards: joined with a friend's code, before any purchase
    # Reference data without services yet (catalogue, tiers): plain rows.
    shoes = Category.objects.create(code="shoes", name="Skor")
    Product.objects.create(sku="SHOE-1", name="Löparsko", category=shoes)
    MemberTier.objects.create(
        member=member,
        tier=Tier.objects.create(code="silver", name_sv="Silver", name_en="Silver", rank=1),
    )
    rf.base_rule()
    with capture(execute=True):
        bought = rf.purchase(
            store=store,
            member=member,
            lines=[rf.line(sku="SHOE-1", quantity=2, price_ore=50000, discount_ore=1000)],
        )
        purchase_return(
            store=store, receipt_id=bought.purchase.receipt_id, return_id="RET-1", lines=[(1, 1)]
        )
    rf.purchase(store=store, member=None, receipt_id="FORGOT-1", lines=[rf.line(price_ore=2000)])
    purchase_claim(member=member, store=store, receipt_id="FORGOT-1", total_ore=2000)
    rf.earned(member, 300)
    points_adjust(member=member, points=50, reason="Goodwill", actor=staff, idempotency_key="adj-1")
    points_reserve(
        member=member, store=store, points=100, reference="basket-1", idempotency_key="res-1"
    )
    checkin_record(member=member, store=store, idempotency_key="door-1")
    access_log_record(staff=staff, member_id=member.pk, view="view")
    erasure = privacy_erasure_request(member=member, actor=member.user)
    privacy_erasure_confirm(token=erasure_confirm_token(erasure))
    privacy_request_refuse(request=erasure, reason="Test refusal", staff=staff)
    unsubscribe_redeem(
        token=unsubscribe_token_make(member=member, purpose="marketing_email", channel="email")
    )
    # campaigns' personalisation: a stored recommendation with every field filled.
    from tests.factories.personalisation import recommendation_with_every_field

    recommendation_with_every_field(member)
    # campaigns: a static list, a delivery, an offer, an inbox message, a contact budget.
    from tests.factories.campaigns import campaign_data_with_every_field

    campaign_data_with_every_field(member)
    # rewards: tiers, benefits, vouchers, waiting list, challenges, referrals, reviews.
    rf.loyalty_data_with_every_field(member, store, staff)
    # consent.webhooks: an event delivered to a receiver (the delivery, its attempt with the
    # receiver's answer, and the share record).
    webhook_delivered(member, capture)
    with capture(execute=True):
        export_requested(member)  # an earlier export, done: its file and expiry are data too
    return member


def webhook_delivered(member: Member, capture: Any) -> None:
    """One points.changed event about ``member`` delivered to a real receiver on loopback."""
    from consent.models import Purpose
    from consent.webhooks.endpoints import webhook_endpoint_create
    from members.outbox import outbox_emit
    from tests.consent.webhook_receiver import Receiver
    from tests.factories.members import api_key_with_secret, store

    receiver = Receiver().start()
    try:
        key, _plain = api_key_with_secret(store_obj=store(), scopes=["points:read"])
        webhook_endpoint_create(
            url=receiver.url,
            event_types=["points.changed"],
            api_key=key,
            purpose=Purpose.objects.get(code="membership"),
            recipient="Webbutiken",
            reason_sv="visa dina poäng i kassan",
            reason_en="show your points at the till",
        )
        with capture(execute=True):
            outbox_emit("points.changed", member=member, data={"points": 10})
    finally:
        receiver.stop()
