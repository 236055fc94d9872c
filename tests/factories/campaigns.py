"""Segments, offers and campaigns built through the campaigns services, as a marketer would."""

from __future__ import annotations

import itertools
from typing import Any

from campaigns.authoring import campaign_save, offer_save, segment_save, variant_save
from campaigns.models import Campaign, Offer, Segment, Variant

_seq = itertools.count(1)


def segment(criteria: dict[str, Any] | None = None, *, name: str | None = None) -> Segment:
    return segment_save(name=name or f"Segment {next(_seq)}", criteria=criteria or {})


def offer(*, kind: str = Offer.Kind.MESSAGE, **fields: Any) -> Offer:
    fields.setdefault("name", f"Offer {next(_seq)}")
    fields.setdefault("title_sv", "Hej {{ first_name }}!")
    fields.setdefault("title_en", "Hello {{ first_name }}!")
    fields.setdefault("body_sv", "Ett erbjudande för dig.")
    fields.setdefault("body_en", "An offer for you.")
    return offer_save(kind=kind, **fields)


def campaign(
    *,
    segment_obj: Segment | None = None,
    channels: list[str] | None = None,
    holdout_percent: int = 0,
    variants: list[tuple[str, int]] | None = None,
    offer_obj: Offer | None = None,
    **fields: Any,
) -> Campaign:
    """A draft campaign with variants (code, weight) that carry text in both languages."""
    obj = campaign_save(
        name=fields.pop("name", f"Campaign {next(_seq)}"),
        segment=segment_obj,
        channels=channels or ["test"],
        holdout_percent=holdout_percent,
        **fields,
    )
    for code, weight in variants or [("A", 100)]:
        variant(obj, code=code, weight=weight, offer_obj=offer_obj)
    return obj


def variant(
    campaign_obj: Campaign, *, code: str = "A", weight: int = 100, offer_obj: Offer | None = None
) -> Variant:
    return variant_save(
        campaign=campaign_obj,
        code=code,
        weight=weight,
        offer=offer_obj,
        email_subject_sv=f"Hej {{{{ first_name }}}} ({code})",
        email_subject_en=f"Hello {{{{ first_name }}}} ({code})",
        email_text_sv="Du har {{ points }} poäng. https://example.com/rea",
        email_text_en="You have {{ points }} points. https://example.com/sale",
        email_html_sv='<p>Hej {{ first_name }}, <a href="https://example.com/rea">rea</a></p>',
        email_html_en='<p>Hello {{ first_name }}, <a href="https://example.com/sale">sale</a></p>',
        sms_text_sv="Hej {{ first_name }}! Rea nu.",
        sms_text_en="Hi {{ first_name }}! Sale now.",
    )


def campaign_data_with_every_field(member: Any) -> None:
    """Rows with every personal field of campaigns filled, for the export test: a static
    list, a sent and activated delivery with its offer and inbox message, a contact budget."""
    import datetime

    from django.utils import timezone

    from campaigns.authoring import segment_import_csv
    from campaigns.models import ContactBudget, Delivery, InboxMessage, MemberOffer

    segment_import_csv(name="Export list", content=member.membership_number)
    offer_obj = offer(kind=Offer.Kind.MESSAGE)
    camp = campaign(channels=["onsite"], offer_obj=offer_obj)
    now = timezone.now()
    delivery = Delivery.objects.create(
        campaign=camp,
        variant=camp.variants.first(),
        member=member,
        channel="onsite",
        occurrence="export",
        status=Delivery.Status.SENT,
        reason="retry",
        attempts=1,
        not_before=now,
        queued_at=now,
        budget_taken=True,
        claimed_at=now,
        sent_at=now,
        provider_ref="inbox-1",
        opened_at=now,
        clicked_at=now,
        activated_at=now,
        redeemed_at=now,
    )
    MemberOffer.objects.create(
        member=member,
        offer=offer_obj,
        campaign=camp,
        delivery=delivery,
        status=MemberOffer.Status.ACTIVE,
        available_until=offer_obj.activate_until(now),
        activated_at=now,
        active_until=now + datetime.timedelta(days=14),
    )
    InboxMessage.objects.create(
        member=member, delivery=delivery, title="Hej", body="Text", read_at=now
    )
    ContactBudget.objects.create(member=member, week=now.date(), used=1)
