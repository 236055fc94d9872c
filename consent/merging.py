"""consent's part of a merge (members.merging; docs/merging.md, "Consent").

Registered from ``ConsentConfig.ready`` with order 20: it runs after members' step (the
timeline, the login) and before rewards' and campaigns', inside ``member_merge``'s
transaction with both member rows locked.

- Current consent, per purpose and channel: the most restrictive state wins. Marketing
  continues only where both records said yes; a withdrawal, or no answer at all, on either
  side beats a yes. Where that takes a yes away from the survivor, the change is a new
  consent event on the survivor (source ``system``, the merging staff member as actor) whose
  timeline event names the merged member: the record says why the state changed.
- History: consent events are append-only (a database trigger refuses to change one), so the
  merged member's events and their web proof stay as written under the tombstone, and the
  survivor's history includes them (``consent.selectors.consent_history``, the export).
- Contact preferences: the stricter of each setting (the later pause, the lower weekly
  limit, the longer quiet hours). Interests: the union. Partner shares, the staff access log
  and used unsubscribe links move. Privacy requests move; where both members have an open
  request of one kind, the one further along stays open and the other is cancelled, so an
  erasure either of them asked for is carried out, on the survivor (which erases both).
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from consent.models import (
    AccessLog,
    ConsentEvent,
    ConsentState,
    ContactPreferences,
    MemberInterest,
    PartnerShare,
    PrivacyRequest,
    UsedUnsubscribeToken,
)
from consent.services.consent import Proof, consent_set_locked
from members.merging import merge_actor
from members.models import Member


def consent_merge_step(survivor: Member, merged: Member) -> dict[str, int]:
    moved = _states_merge(survivor, merged)
    moved["consent.ContactPreferences.member"] = _preferences_merge(survivor, merged)
    moved["consent.MemberInterest.member"] = _interests_merge(survivor, merged)
    for model in (PartnerShare, AccessLog, UsedUnsubscribeToken):
        moved[f"consent.{model.__name__}.member"] = model.objects.filter(member=merged).update(
            member=survivor
        )
    moved["consent.PrivacyRequest.member"] = _requests_merge(survivor, merged)
    return moved


def _states_merge(survivor: Member, merged: Member) -> dict[str, int]:
    def states(member: Member) -> dict[tuple[int, str], ConsentState]:
        return {
            (s.purpose_id, s.channel): s
            for s in ConsentState.objects.filter(member=member).select_related("purpose")
        }

    kept, other = states(survivor), states(merged)
    proof = Proof(source=ConsentEvent.Source.SYSTEM, actor=merge_actor())
    moved = withdrawn = 0
    for key in sorted(set(kept) | set(other)):
        mine, theirs = kept.get(key), other.get(key)
        # No answer is as good as a no: a yes survives only where both said yes.
        granted = bool(mine and mine.granted) and bool(theirs and theirs.granted)
        if mine is None:
            assert theirs is not None
            ConsentState.objects.filter(pk=theirs.pk).update(member=survivor)
            current = theirs
            moved += 1
        else:
            if theirs is not None:
                theirs.delete()
                moved += 1
            current = mine
        purpose = current.purpose
        # A state of a purpose that no longer rests on consent, or of a channel the purpose
        # no longer covers, is never read (consent.selectors.contact_permissions): left as is.
        if current.granted and not granted and purpose.needs_consent:
            if current.channel != purpose.channel:
                continue
            event = consent_set_locked(
                member=survivor,
                purpose=purpose,
                granted=False,
                proof=proof,
                facts={"merged_member": merged.pk},
            )
            withdrawn += event is not None
    return {"consent.ConsentState.member": moved, "consent.withdrawn_by_merge": withdrawn}


def _quiet_minutes(prefs: ContactPreferences) -> int:
    start, end = prefs.quiet_start, prefs.quiet_end
    if start is None or end is None:
        return 0
    minutes = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
    return minutes % (24 * 60)


def _preferences_merge(survivor: Member, merged: Member) -> int:
    theirs = ContactPreferences.objects.filter(member=merged).first()
    if theirs is None:
        return 0
    mine = ContactPreferences.objects.filter(member=survivor).first()
    if mine is None:
        ContactPreferences.objects.filter(member=merged).update(member=survivor)
        return 1
    limits = [v for v in (mine.max_messages_per_week, theirs.max_messages_per_week) if v]
    pauses: list[datetime.datetime] = [
        v for v in (mine.paused_until, theirs.paused_until) if v is not None
    ]
    quiet = theirs if _quiet_minutes(theirs) > _quiet_minutes(mine) else mine
    ContactPreferences.objects.filter(member=survivor).update(
        max_messages_per_week=min(limits) if limits else None,
        paused_until=max(pauses) if pauses else None,
        quiet_start=quiet.quiet_start,
        quiet_end=quiet.quiet_end,
        updated_at=timezone.now(),
    )
    theirs.delete()
    return 1


def _interests_merge(survivor: Member, merged: Member) -> int:
    have = set(MemberInterest.objects.filter(member=survivor).values_list("interest_id", flat=True))
    MemberInterest.objects.filter(member=merged, interest_id__in=have).delete()
    return MemberInterest.objects.filter(member=merged).update(member=survivor)


# Open requests, least to most advanced: of two open requests of one kind the later stays.
_ADVANCE = {status: rank for rank, status in enumerate(PrivacyRequest.OPEN_STATUSES)}


def _requests_merge(survivor: Member, merged: Member) -> int:
    requests = list(
        PrivacyRequest.objects.select_for_update()
        .filter(member__in=[survivor, merged], status__in=PrivacyRequest.OPEN_STATUSES)
        .order_by("pk")
    )
    for kind in PrivacyRequest.Kind.values:
        mine = [r for r in requests if r.kind == kind and r.member_id == survivor.pk]
        theirs = [r for r in requests if r.kind == kind and r.member_id == merged.pk]
        if not mine or not theirs:
            continue
        # one open request per member and kind (a constraint): compare the two
        a, b = mine[0], theirs[0]
        a_key = (_ADVANCE[a.status], -(a.scheduled_for or a.due_at).timestamp())
        b_key = (_ADVANCE[b.status], -(b.scheduled_for or b.due_at).timestamp())
        # the one further along stays open; the earlier scheduled, then the survivor's
        loser = b if a_key >= b_key else a
        PrivacyRequest.objects.filter(pk=loser.pk).update(
            status=PrivacyRequest.Status.CANCELLED, completed_at=timezone.now()
        )
    return PrivacyRequest.objects.filter(member=merged).update(member=survivor)
