"""Reads shared by pages, admin, tasks and the apps above consent.

``contact_permission`` is the send-time check campaigns call for every message.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.core.files.storage import Storage, storages
from django.db.models import Q, QuerySet
from django.utils import timezone

from consent.models import (
    Channel,
    ConsentEvent,
    ConsentState,
    ContactPreferences,
    Interest,
    MemberInterest,
    PolicyVersion,
    PrivacyRequest,
    Purpose,
)
from members.models import Member
from members.rows import CompiledQuery

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@dataclass(frozen=True)
class Decision:
    """The answer to "may we contact this member for this purpose on this channel now?".

    ``reason`` is a stable code: ``ok``, ``unknown_purpose``, ``channel_not_covered``,
    ``erased``, ``blocked``, ``no_consent``, ``withdrawn``, ``paused``, ``quiet_hours``.
    ``not_before`` is set when waiting helps (quiet hours, a pause): the earliest time worth
    asking again.
    """

    allowed: bool
    reason: str
    not_before: datetime.datetime | None = None

    def __bool__(self) -> bool:
        return self.allowed


def contact_permission(
    *,
    member: Member | int,
    purpose: str,
    channel: str,
    at: datetime.datetime | None = None,
) -> Decision:
    """May ``member`` be contacted for ``purpose`` on ``channel`` at ``at`` (default now)?

    Call at the moment of sending, for every message. Every answer is read from committed
    rows with fresh queries and no cache, so a withdrawal committed a moment earlier is seen.
    Checks, in order: the purpose exists and covers the channel; the member is not erased,
    not merged into another, and their login not blocked; consent is granted (for purposes
    that rest on consent); marketing is not paused; the time is outside the member's quiet
    hours (Europe/Stockholm). The weekly limit (``ContactPreferences.max_messages_per_week``)
    is the caller's contact budget to apply, since only the caller knows what was sent.
    """
    member_id = member if isinstance(member, int) else member.pk
    return contact_permissions(member_ids=[member_id], purpose=purpose, channel=channel, at=at)[
        member_id
    ]


def contact_permissions(
    *,
    member_ids: Iterable[int],
    purpose: str,
    channel: str,
    at: datetime.datetime | None = None,
) -> dict[int, Decision]:
    """``contact_permission`` for a whole send batch: ``{member_id: Decision}``.

    The same rules, in the same order, in four queries whatever the batch size.
    """
    at = at or timezone.now()
    ids = list(dict.fromkeys(member_ids))
    purpose_obj = Purpose.objects.filter(code=purpose, active=True).first()
    if purpose_obj is None:
        return dict.fromkeys(ids, Decision(False, "unknown_purpose"))
    if channel not in Channel.values or (purpose_obj.channel and purpose_obj.channel != channel):
        return dict.fromkeys(ids, Decision(False, "channel_not_covered"))
    members = {
        row["pk"]: row
        for row in Member.objects.filter(pk__in=ids).values(
            "pk", "erased_at", "merged_into_id", "user_id", "user__is_active"
        )
    }
    states: dict[int, bool] = {}
    prefs: dict[int, ContactPreferences] = {}
    if purpose_obj.needs_consent:
        states = dict(
            ConsentState.objects.filter(
                member_id__in=ids, purpose=purpose_obj, channel=purpose_obj.channel
            ).values_list("member_id", "granted")
        )
        prefs = {p.member_id: p for p in ContactPreferences.objects.filter(member_id__in=ids)}
    local = at.astimezone(STOCKHOLM)
    return {
        member_id: _decide(
            row=members.get(member_id),
            purpose=purpose_obj,
            channel=channel,
            granted=states.get(member_id),
            prefs=prefs.get(member_id),
            at=at,
            local=local,
        )
        for member_id in ids
    }


def _decide(
    *,
    row: Mapping[str, Any] | None,
    purpose: Purpose,
    channel: str,
    granted: bool | None,
    prefs: ContactPreferences | None,
    at: datetime.datetime,
    local: datetime.datetime,
) -> Decision:
    if row is None or row["erased_at"] is not None:
        return Decision(False, "erased")
    if row["merged_into_id"] is not None:  # a tombstone: the survivor is the one to ask
        return Decision(False, "merged")
    if row["user_id"] is not None and not row["user__is_active"]:
        return Decision(False, "blocked")
    if not purpose.needs_consent:
        return Decision(True, "ok")
    if granted is None:
        return Decision(False, "no_consent")
    if not granted:
        return Decision(False, "withdrawn")
    # Pause and quiet hours govern what the member opted into, not contractual notices.
    if prefs is not None:
        if prefs.paused_until is not None and prefs.paused_until > at:
            return Decision(False, "paused", not_before=prefs.paused_until)
        if channel in (Channel.EMAIL, Channel.SMS) and prefs.in_quiet_hours(local.time()):
            return Decision(False, "quiet_hours", not_before=quiet_hours_end(prefs, local))
    return Decision(True, "ok")


def quiet_hours_end(prefs: ContactPreferences, local: datetime.datetime) -> datetime.datetime:
    """When the quiet hours that ``local`` (Stockholm time) falls in end, in UTC."""
    assert prefs.quiet_end is not None
    end = datetime.datetime.combine(local.date(), prefs.quiet_end, tzinfo=STOCKHOLM)
    if end <= local:
        end = datetime.datetime.combine(
            local.date() + datetime.timedelta(days=1), prefs.quiet_end, tzinfo=STOCKHOLM
        )
    return end.astimezone(datetime.UTC)


# The preference centre's and "my data"'s per-member reads, compiled once (members.rows).
_CONTACT_PREFERENCES: CompiledQuery[ContactPreferences] = CompiledQuery(
    lambda member_id: ContactPreferences.objects.filter(member_id=member_id), "member_id"
)
_CONSENT_STATES: CompiledQuery[ConsentState] = CompiledQuery(
    lambda member_id: ConsentState.objects.filter(member_id=member_id), "member_id"
)
_INTEREST_IDS: CompiledQuery[MemberInterest] = CompiledQuery(
    lambda member_id: MemberInterest.objects.filter(member_id=member_id).only("interest_id"),
    "member_id",
)


def contact_preferences_get(*, member: Member) -> ContactPreferences:
    """The member's preferences, or unsaved defaults (no limit, no quiet hours, no pause)."""
    found = _CONTACT_PREFERENCES(member_id=member.pk)  # one at most (one-to-one)
    return found[0] if found else ContactPreferences(member=member)


_POLICY_CURRENT: CompiledQuery[PolicyVersion] = CompiledQuery(
    lambda at: PolicyVersion.objects.filter(effective_at__lte=at).order_by("-effective_at")[:1],
    "at",
    datetimes=["at"],
)


def policy_version_current(*, at: datetime.datetime | None = None) -> PolicyVersion | None:
    """The policy version in force at ``at``: the latest that has taken effect (compiled
    once per process, members.rows)."""
    found = _POLICY_CURRENT(at=at or timezone.now())
    return found[0] if found else None


def purposes_needing_consent() -> QuerySet[Purpose]:
    return Purpose.objects.filter(active=True, lawful_basis="consent").order_by("order", "code")


_PURPOSES_NEEDING_CONSENT: CompiledQuery[Purpose] = CompiledQuery(purposes_needing_consent)


def purposes_needing_consent_list() -> list[Purpose]:
    """``list(purposes_needing_consent())``, compiled once per process (members.rows)."""
    return _PURPOSES_NEEDING_CONSENT()


def consent_states(*, member: Member) -> dict[int, ConsentState]:
    """Current state by purpose id."""
    return {s.purpose_id: s for s in _CONSENT_STATES(member_id=member.pk)}


_HISTORY_LATEST: dict[int, CompiledQuery[ConsentEvent]] = {}  # by limit


def consent_history_latest(*, member: Member, limit: int = 100) -> list[ConsentEvent]:
    """The latest ``limit`` of :func:`consent_history` ("my data"), compiled once."""
    query = _HISTORY_LATEST.get(limit)
    if query is None:
        query = _HISTORY_LATEST[limit] = CompiledQuery(
            lambda member_id: (
                ConsentEvent.objects.filter(
                    Q(member_id=member_id) | Q(member__merged_into_id=member_id)
                )
                .select_related("purpose", "policy_version")
                .order_by("-created_at", "-id")[:limit]
            ),
            "member_id",
        )
    return query(member_id=member.pk)


def consent_history(*, member: Member) -> QuerySet[ConsentEvent]:
    """Every consent event of the person: the member's own and those of the members merged
    into it, which stay as written under their tombstones (consent.merging)."""
    return (
        ConsentEvent.objects.filter(Q(member=member) | Q(member__merged_into=member))
        .select_related("purpose", "policy_version")
        .order_by("-created_at", "-id")
    )


def interests_active() -> QuerySet[Interest]:
    return Interest.objects.filter(active=True).order_by("order", "code")


_INTERESTS_ACTIVE: CompiledQuery[Interest] = CompiledQuery(interests_active)


def interests_active_list() -> list[Interest]:
    """``list(interests_active())``, compiled once per process (members.rows)."""
    return _INTERESTS_ACTIVE()


def member_interest_ids(*, member: Member) -> set[int]:
    return {row.interest_id for row in _INTEREST_IDS(member_id=member.pk)}


_LATEST_REQUEST: dict[str, CompiledQuery[PrivacyRequest]] = {}  # by kind


def privacy_request_latest(*, member: Member, kind: str) -> PrivacyRequest | None:
    query = _LATEST_REQUEST.get(kind)
    if query is None:
        query = _LATEST_REQUEST[kind] = CompiledQuery(
            lambda member_id: PrivacyRequest.objects.filter(
                member_id=member_id, kind=kind
            ).order_by("-id")[:1],
            "member_id",
        )
    found = query(member_id=member.pk)
    return found[0] if found else None


_EXPORT_DOWNLOADABLE: CompiledQuery[PrivacyRequest] = CompiledQuery(
    lambda request_id, member_id, now: (
        PrivacyRequest.objects.filter(
            pk=request_id,
            member=member_id,
            kind=PrivacyRequest.Kind.EXPORT,
            status=PrivacyRequest.Status.DONE,
            expires_at__gt=now,
        )
        .exclude(file_name="")
        .order_by("pk")[:1]
    ),
    "request_id",
    "member_id",
    "now",
    datetimes=["now"],
)


def privacy_export_downloadable(*, member: Member, request_id: int) -> PrivacyRequest | None:
    """The member's own finished, unexpired export, or None (compiled once, members.rows)."""
    found = _EXPORT_DOWNLOADABLE(request_id=request_id, member_id=member.pk, now=timezone.now())
    return found[0] if found else None


_PURPOSES_ALL: CompiledQuery[Purpose] = CompiledQuery(lambda: Purpose.objects.all())


def purposes_all_list() -> list[Purpose]:
    """``list(Purpose.objects.all())``, compiled once per process (members.rows)."""
    return _PURPOSES_ALL()


def private_storage() -> Storage:
    """Where export archives are kept: the "private" storage, never served at any URL."""
    return storages["private"]
