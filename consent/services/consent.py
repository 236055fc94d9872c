"""Consent: every change is one ``ConsentEvent`` plus the derived ``ConsentState``, in one
transaction with the member row locked, so concurrent changes to the same member queue up
and each sees the other's result."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from consent.errors import ConsentNotApplicableError, NoPolicyVersionError, UnknownPurposeError
from consent.lock_objects import member_lock, purpose_get
from consent.models import ConsentEvent, ConsentProof, ConsentState, PolicyVersion, Purpose
from consent.selectors import policy_version_current
from members.activity import Kind, activity_record
from members.models import Member, User

Source = ConsentEvent.Source


@dataclass(frozen=True)
class Proof:
    """Where a change came from, for the record. IP and user agent only from the web."""

    source: str
    actor: User | None = None
    ip_address: str | None = None
    user_agent: str = ""
    policy_version: PolicyVersion | None = None


def consent_set_locked(
    *,
    member: Member,
    purpose: Purpose,
    granted: bool,
    proof: Proof,
    channel: str | None = None,
    facts: dict[str, object] | None = None,
) -> ConsentEvent | None:
    """Write one event and the state, unless nothing changes. Call inside a transaction that
    holds the member row's lock (``consent.lock_objects.member_lock``). ``facts`` go on the
    timeline event beside the consent event's id (why the system changed it: a merge)."""
    if not purpose.needs_consent:
        raise ConsentNotApplicableError()
    if channel is not None and channel != purpose.channel:
        raise ValidationError({"channel": _("This purpose is about another channel.")})
    if proof.source not in Source.values:
        raise ValidationError({"source": _("Unknown source.")})
    if granted and not purpose.active:
        raise UnknownPurposeError()
    state = ConsentState.objects.filter(
        member=member, purpose=purpose, channel=purpose.channel
    ).first()
    if (state is None and not granted) or (state is not None and state.granted == granted):
        return None  # no change, no event: withdrawing what was never given changes nothing
    version = proof.policy_version or policy_version_current()
    if version is None:
        raise NoPolicyVersionError()
    now = timezone.now()
    actor = proof.actor if proof.actor is not None and proof.actor.is_authenticated else None
    event = ConsentEvent.objects.create(
        member=member,
        purpose=purpose,
        channel=purpose.channel,
        granted=granted,
        policy_version=version,
        source=proof.source,
        actor=actor,
        created_at=now,
    )
    if proof.ip_address or proof.user_agent:
        ConsentProof.objects.create(
            event=event, ip_address=proof.ip_address or None, user_agent=proof.user_agent[:400]
        )
    if state is None:
        ConsentState.objects.create(
            member=member,
            purpose=purpose,
            channel=purpose.channel,
            granted=granted,
            event=event,
            changed_at=now,
        )
    else:
        ConsentState.objects.filter(pk=state.pk).update(
            granted=granted, event=event, changed_at=now
        )
    activity_record(
        member=member,
        kind=Kind.CONSENT_GRANTED if granted else Kind.CONSENT_WITHDRAWN,
        data={
            **(facts or {}),
            "purpose": purpose.code,
            "channel": purpose.channel,
            "consent_event_id": event.pk,
        },
        source=proof.source,
        actor=actor,
    )
    return event


def consent_set(
    *,
    member: Member,
    purpose: Purpose | str,
    granted: bool,
    source: str,
    actor: User | None = None,
    channel: str | None = None,
    policy_version: PolicyVersion | None = None,
    ip_address: str | None = None,
    user_agent: str = "",
) -> ConsentEvent | None:
    """Grant or withdraw one purpose. Returns the new event, or None when nothing changed.

    ``policy_version`` is the version the member saw (default: the one in force now).
    """
    purpose_obj = purpose_get(purpose)
    proof = Proof(
        source=source,
        actor=actor,
        ip_address=ip_address,
        user_agent=user_agent,
        policy_version=policy_version,
    )
    with transaction.atomic():
        locked = member_lock(member)
        return consent_set_locked(
            member=locked, purpose=purpose_obj, granted=granted, proof=proof, channel=channel
        )


def consents_set(
    *,
    member: Member,
    choices: dict[str, bool],
    source: str,
    actor: User | None = None,
    policy_version: PolicyVersion | None = None,
    ip_address: str | None = None,
    user_agent: str = "",
) -> list[ConsentEvent]:
    """Set several purposes at once (sign-up, preference centre, import), all or nothing.

    Only changes are recorded: an unticked box for a purpose never granted writes nothing.
    """
    purposes = {p.code: p for p in Purpose.objects.filter(code__in=list(choices))}
    unknown = set(choices) - set(purposes)
    if unknown:
        raise UnknownPurposeError()
    proof = Proof(
        source=source,
        actor=actor,
        ip_address=ip_address,
        user_agent=user_agent,
        policy_version=policy_version,
    )
    events = []
    with transaction.atomic():
        locked = member_lock(member)
        for code in sorted(choices):
            event = consent_set_locked(
                member=locked, purpose=purposes[code], granted=choices[code], proof=proof
            )
            if event is not None:
                events.append(event)
    return events
