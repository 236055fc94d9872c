"""campaigns' parts of the member's export and "my data" page (consent.registry).

Export: the messages the member received (deliveries), offers, the inbox, and the static
segments they are in. The "my data" page lists the segments a member is in (criteria
segments are evaluated now) and the messages received. Erasure keeps delivery rows (they
point at the tombstone and hold no personal data) but deletes the inbox texts and removes the
member from uploaded lists; retention purges messages after 13 months.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Model
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import (
    Delivery,
    InboxMessage,
    MemberOffer,
    Segment,
    SegmentMember,
)
from consent.registry import (
    erasure_step_register,
    export_section_register,
    model_row,
    page_section_register,
    retention_job_register,
)
from members.models import Member

MESSAGE_RETENTION_DAYS = 396  # 13 months


def _rows(model: type[Model], path: str) -> Any:
    def rows(member: Member) -> list[dict[str, Any]]:
        return [
            model_row(obj) for obj in model._default_manager.filter(**{path: member}).order_by("pk")
        ]

    return rows


def segments_of(member: Member) -> list[Segment]:
    """Segments the member is in now: uploaded lists, and criteria segments evaluated."""
    from campaigns.segments import members_matching

    found = []
    for segment in Segment.objects.order_by("name"):
        if segment.kind == Segment.Kind.STATIC:
            if SegmentMember.objects.filter(segment=segment, member=member).exists():
                found.append(segment)
        elif segment.criteria:
            try:
                if members_matching(segment.criteria).filter(pk=member.pk).exists():
                    found.append(segment)
            except Exception:  # noqa: BLE001 - a broken old segment must not break the page
                continue
    return found


def _segment_rows(member: Member) -> list[dict[str, str]]:
    return [{"segment": s.name, "description": s.description or "—"} for s in segments_of(member)]


def _segment_export(member: Member) -> list[dict[str, Any]]:
    return [{"id": s.pk, "name": s.name, "kind": s.kind} for s in segments_of(member)]


def _local(value: datetime.datetime | None) -> str:
    if value is None:
        return ""
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


def _message_rows(member: Member) -> list[dict[str, str]]:
    rows = (
        Delivery.objects.filter(member=member, status=Delivery.Status.SENT)
        .select_related("campaign")
        .order_by("-sent_at")[:100]
    )
    return [
        {"campaign": d.campaign.name, "channel": d.channel, "when": _local(d.sent_at)} for d in rows
    ]


def erase_campaign_data(member: Member) -> None:
    InboxMessage.objects.filter(member=member).update(title="", body="")
    SegmentMember.objects.filter(member=member).delete()


def purge_old_messages(now: datetime.datetime) -> int:
    cutoff = now - datetime.timedelta(days=MESSAGE_RETENTION_DAYS)
    deleted, _by_model = InboxMessage.objects.filter(created_at__lt=cutoff).delete()
    return deleted


for order, (name, title, rows, model) in enumerate(
    [
        ("messages_received", _("Messages we sent you"), _rows(Delivery, "member"), Delivery),
        ("offers", _("Your offers"), _rows(MemberOffer, "member"), MemberOffer),
        ("inbox", _("Messages on your pages"), _rows(InboxMessage, "member"), InboxMessage),
        ("segments", _("Groups (segments) you are in"), _segment_export, None),
    ],
    start=1,
):
    export_section_register(name=name, title=title, rows=rows, model=model, order=400 + order * 10)

page_section_register(
    name="campaigns_segments",
    title=_("Segments you are in"),
    description=_("Groups of members we choose offers for. Being in one never costs you anything."),
    empty_text=_("You are not in any segment right now."),
    rows=_segment_rows,
    columns=[_("Segment"), _("What it is")],
    order=70,
)
page_section_register(
    name="campaigns_messages",
    title=_("Messages received"),
    description=_("Offers and news we sent you, and on which channel."),
    empty_text=_("We have not sent you any messages."),
    rows=_message_rows,
    columns=[_("Campaign"), _("Channel"), _("When")],
    order=80,
)
erasure_step_register(name="campaigns", run=erase_campaign_data, order=50)
retention_job_register(name="campaigns.messages", run=purge_old_messages)
