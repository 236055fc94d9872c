"""Consents in the member import (docs/import.md, "Consents"): consent's step in
``members.imports`` (registered from ``ConsentConfig.ready``; members cannot import consent).

For every purpose the club asks consent for (active, lawful basis consent), the member file
may have three columns: ``consent_<code>`` (ja/nej, yes/no), ``consent_<code>_at`` (when the
member gave it, ``2024-03-01`` or ``2024-03-01 14:05``) and ``consent_<code>_source``
(where: "webbformulär", "butik", "pappersblankett"). A purpose has at most one channel, which
its code names (``marketing_email``, ``marketing_sms``), so the columns are per purpose and
channel as the club defines them.

A "ja" is recorded as the member's consent at its original time: a ``ConsentEvent`` with the
source ``import`` (the old system's proof, an IP address or a signed form, is not in the
file: such a consent is recorded as imported, with its source), the policy version in force
at that time, the ``ConsentState`` and a ``consent_granted`` timeline event (history: no
consumer acts on it) whose data keeps the old system's source.

Valid under the club's purposes: a consent is only recorded when the member could have read
the club's text for the purpose, that is when a policy version was in force on the day it
was given (``consent.selectors.policy_version_current``). One given earlier is not recorded:
the member is imported without it, the report notes why, and the member gets no marketing
for that purpose until they consent here (``contact_permission`` answers ``no_consent``).
A "nej" records nothing (withdrawing what was never given changes nothing): the member is
not asked, and not contacted.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from consent.models import ConsentEvent, ConsentState, PolicyVersion, Purpose
from consent.selectors import purposes_needing_consent
from members.activity import Kind
from members.import_copy import copy_insert, ids_reserve
from members.import_files import datetime_parse
from members.imports import HistoryEvent, Line, history_events_handled
from members.models import ActivityEvent, User

STEP = "consent"
YES = frozenset({"ja", "j", "yes", "y", "true", "1", "x"})
NO = frozenset({"nej", "n", "no", "false", "0"})
SOURCE_MAX = 100


@dataclass(frozen=True)
class Given:
    """One consent a line brings: the purpose, when and where it was given, and the policy
    version in force then."""

    purpose: Purpose
    given_at: datetime.datetime
    policy_version: PolicyVersion
    source: str


def _columns(purpose: Purpose) -> tuple[str, str, str]:
    column = f"consent_{purpose.code}"
    return column, f"{column}_at", f"{column}_source"


def import_columns() -> tuple[str, ...]:
    return tuple(column for purpose in purposes_needing_consent() for column in _columns(purpose))


def import_check(lines: list[Line], now: datetime.datetime) -> None:
    """Each line's consents: a problem rejects the line (the file is wrong), a consent from
    before the club's first policy version is noted and not recorded."""
    # Only the purposes the file has a column of (a line's values hold the header's columns).
    header = set(lines[0].record.values) if lines else set()
    purposes = [
        purpose for purpose in purposes_needing_consent() if header & set(_columns(purpose))
    ]
    if not purposes:
        return
    versions = sorted(PolicyVersion.objects.all(), key=lambda v: v.effective_at, reverse=True)
    for line in lines:
        given: list[Given] = []
        for purpose in purposes:
            found = _consent_check(line, purpose, versions=versions, now=now)
            if found is not None:
                given.append(found)
        if given:
            line.steps[STEP] = given


def _consent_check(
    line: Line, purpose: Purpose, *, versions: list[PolicyVersion], now: datetime.datetime
) -> Given | None:
    values = line.record.values
    column = f"consent_{purpose.code}"
    answer = values.get(column, "").lower()
    when, source = values.get(f"{column}_at", ""), values.get(f"{column}_source", "")
    if not answer:
        if when or source:
            line.reject(column, _("The answer is missing: write ja or nej (yes or no)."))
        return None
    if answer in NO:
        return None
    if answer not in YES:
        line.reject(column, _("Write ja or nej (yes or no)."))
        return None
    if len(source) > SOURCE_MAX:
        line.reject(
            f"{column}_source",
            _("The source is too long: at most %(max)d characters.") % {"max": SOURCE_MAX},
        )
        return None
    if not when:
        line.reject(
            f"{column}_at",
            _("The date the consent was given is missing; a consent needs its original date."),
        )
        return None
    given_at = datetime_parse(when)
    if given_at is None:
        line.reject(
            f"{column}_at", _("Not a date and time; write it as 2024-03-01 or 2024-03-01 14:05.")
        )
        return None
    if given_at > now:
        line.reject(f"{column}_at", _("The consent's date is in the future."))
        return None
    version = None
    for candidate in versions:  # newest first: the one in force then
        if candidate.effective_at <= given_at:
            version = candidate
            break
    if version is None:
        line.note(
            column,
            _(
                "Not recorded: no policy version of the club was in force on %(date)s, so the "
                "member never read what this purpose means here. The member is imported "
                "without this consent and gets no messages for it until they consent here."
            )
            % {"date": timezone.localtime(given_at).date().isoformat()},
        )
        return None
    return Given(purpose=purpose, given_at=given_at, policy_version=version, source=source)


def import_write(lines: list[Line], actor: User | None, now: datetime.datetime) -> None:
    """The lines' consents: events, states and timeline events, one ``COPY`` each per batch.
    Call inside the member import's batch transaction (the members are new: no state yet)."""
    pairs = [
        (line.member_id, given)
        for line in lines
        if line.member_id is not None
        for given in line.steps.get(STEP, [])
    ]
    if not pairs:
        return
    acted_by = actor.pk if actor is not None and actor.is_authenticated else None
    event_ids = ids_reserve(ConsentEvent, len(pairs))
    copy_insert(
        ConsentEvent,
        [
            "id",
            "member_id",
            "purpose_id",
            "channel",
            "granted",
            "policy_version_id",
            "source",
            "actor_id",
            "created_at",
        ],
        (
            (
                pk,
                member_id,
                given.purpose.pk,
                given.purpose.channel,
                True,
                given.policy_version.pk,
                ConsentEvent.Source.IMPORT,
                acted_by,
                given.given_at,
            )
            for pk, (member_id, given) in zip(event_ids, pairs, strict=True)
        ),
    )
    copy_insert(
        ConsentState,
        ["id", "member_id", "purpose_id", "channel", "granted", "event_id", "changed_at"],
        (
            (pk, member_id, given.purpose.pk, given.purpose.channel, True, event_id, given.given_at)
            for pk, event_id, (member_id, given) in zip(
                ids_reserve(ConsentState, len(pairs)), event_ids, pairs, strict=True
            )
        ),
    )
    timeline_ids = ids_reserve(ActivityEvent, len(pairs))
    copy_insert(
        ActivityEvent,
        ["id", "member_id", "kind", "data", "source", "actor_id", "created_at"],
        (
            (
                pk,
                member_id,
                Kind.CONSENT_GRANTED,
                _event_data(given, event_id),
                "import",
                acted_by,
                given.given_at,
            )
            for pk, event_id, (member_id, given) in zip(timeline_ids, event_ids, pairs, strict=True)
        ),
    )
    history_events_handled(
        [
            HistoryEvent(pk=pk, kind=Kind.CONSENT_GRANTED, created_at=given.given_at)
            for pk, (_member_id, given) in zip(timeline_ids, pairs, strict=True)
        ],
        now=now,
    )


def _event_data(given: Given, event_id: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "purpose": given.purpose.code,
        "channel": given.purpose.channel,
        "consent_event_id": event_id,
    }
    if given.source:
        data["imported_source"] = given.source
    return data
