"""Consent and privacy state built through the services, as a member or staff would."""

from __future__ import annotations

import datetime
from typing import Any

from consent.models import ConsentEvent, Interest, PrivacyRequest
from consent.services import (
    consent_set,
    contact_preferences_update,
    interests_set,
    marketing_pause,
    partner_share_record,
    privacy_export_request,
)
from members.models import Member

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
