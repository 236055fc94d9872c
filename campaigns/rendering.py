"""Render a variant for members: merge fields, each member's language, tracked links.

Content is written with Django template variables: ``{{ first_name }}``, ``{{ tier }}``,
``{{ points }}``, ``{{ points_to_next_tier }}``, ``{{ expiring_points }}``,
``{{ expiring_date }}``, ``{{ recommended_products }}``, ``{{ offer_title }}``. Only the
fields a text uses are looked up, once per batch. Links in emails and SMS become tracked
redirects (``/k/<signed>/``); every email carries the member's unsubscribe link and the
RFC 8058 headers from consent.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import Sum
from django.template import Context, Engine, Template
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from campaigns.channels import Message
from campaigns.models import Campaign, Delivery, Offer, Variant
from consent.unsubscribe import unsubscribe_headers, unsubscribe_url
from members.models import Member
from rewards.models import MemberTier, PointBalance, PointLot

MERGE_FIELDS = (
    "first_name",
    "tier",
    "points",
    "points_to_next_tier",
    "expiring_points",
    "expiring_date",
    "recommended_products",
    "offer_title",
)
CLICK_SALT = "campaigns.click"
OPEN_SALT = "campaigns.open"
EXPIRY_HORIZON_DAYS = 30
URL_RE = re.compile(r"https?://[^\s\"'<>]+")

_engine = Engine(autoescape=True)
_text_engine = Engine(autoescape=False)


@lru_cache(maxsize=512)
def _template(source: str, html: bool) -> Template:
    return (_engine if html else _text_engine).from_string(source)


def template_check(source: str) -> None:
    """Raise ``TemplateSyntaxError`` when ``source`` does not compile."""
    _template(source, True)


def fields_used(*sources: str) -> set[str]:
    text = " ".join(sources)
    return {name for name in MERGE_FIELDS if re.search(r"\{\{\s*" + name + r"\b", text)}


def _sources(variant: Variant, channel: str, language: str) -> list[str]:
    offer = variant.offer
    texts = [
        getattr(variant, f"email_subject_{language}"),
        getattr(variant, f"email_html_{language}"),
        getattr(variant, f"email_text_{language}"),
        getattr(variant, f"sms_text_{language}"),
    ]
    if offer is not None:
        texts += [offer.title_for(language), offer.body_for(language)]
    return texts


def member_contexts(
    members: Iterable[Member], *, fields: set[str], now: datetime.datetime | None = None
) -> dict[int, dict[str, Any]]:
    """Merge-field values for many members, a query per field used (not per member)."""
    members = list(members)
    ids = [m.pk for m in members]
    now = now or timezone.now()
    contexts: dict[int, dict[str, Any]] = {
        m.pk: {"first_name": m.first_name, "language": m.preferred_language} for m in members
    }
    if "tier" in fields:
        for row in MemberTier.objects.filter(member_id__in=ids).select_related("tier"):
            language = contexts[row.member_id]["language"]
            contexts[row.member_id]["tier"] = row.tier.name_for(language)
    if "points" in fields:
        for member_id, posted, reserved in PointBalance.objects.filter(
            member_id__in=ids
        ).values_list("member_id", "posted", "reserved"):
            contexts[member_id]["points"] = posted - reserved
        for ctx in contexts.values():
            ctx.setdefault("points", 0)
    if fields & {"expiring_points", "expiring_date"}:
        horizon = now + datetime.timedelta(days=EXPIRY_HORIZON_DAYS)
        rows = (
            PointLot.objects.filter(
                member_id__in=ids, remaining__gt=0, expires_at__gt=now, expires_at__lte=horizon
            )
            .values("member_id")
            .annotate(points=Sum("remaining"))
        )
        for row in rows:
            contexts[row["member_id"]]["expiring_points"] = row["points"]
        for ctx in contexts.values():
            ctx.setdefault("expiring_points", 0)
            ctx.setdefault(
                "expiring_date", timezone.localtime(horizon).date().isoformat()
            )
    if "points_to_next_tier" in fields:
        # Tier thresholds arrive with the tier catalogue (docs/campaigns.md); until then the
        # field renders empty rather than a wrong number.
        for ctx in contexts.values():
            ctx["points_to_next_tier"] = ""
    if "recommended_products" in fields:
        from campaigns.models import MemberRecommendation

        names: dict[int, list[str]] = {}
        for member_id, name, sku in (
            MemberRecommendation.objects.filter(member_id__in=ids, rank__lte=3)
            .order_by("member_id", "rank")
            .values_list("member_id", "product__name", "product__sku")
        ):
            names.setdefault(member_id, []).append(name or sku)
        for member_id, ctx in contexts.items():
            ctx["recommended_products"] = ", ".join(names.get(member_id, []))
    return contexts


def _track(text: str, delivery_id: int, *, html: bool) -> str:
    base = settings.SITE_URL.rstrip("/")

    def replace(match: re.Match[str]) -> str:
        url = match.group(0)
        if url.startswith(base + "/avregistrera/") or url.startswith(base + "/k/"):
            return url
        token = signing.dumps([delivery_id, url], salt=CLICK_SALT, compress=True)
        return base + reverse("campaigns:click", args=[token])

    return URL_RE.sub(replace, text)


def open_pixel_url(delivery_id: int) -> str:
    token = signing.dumps(delivery_id, salt=OPEN_SALT)
    return settings.SITE_URL.rstrip("/") + reverse("campaigns:open", args=[token])


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    sms: str
    title: str
    body: str


def render_variant(
    *, variant: Variant, language: str, context: dict[str, Any]
) -> Rendered:
    """The variant's texts for one member (no tracking, no unsubscribe: see ``message_for``)."""
    language = language if language in ("sv", "en") else "sv"
    offer: Offer | None = variant.offer
    ctx = dict(context)
    if offer is not None:
        ctx["offer_title"] = offer.title_for(language)

    def text(source: str) -> str:
        return _template(source, False).render(Context(ctx)) if source else ""

    def html(source: str) -> str:
        return _template(source, True).render(Context(ctx)) if source else ""

    subject = text(getattr(variant, f"email_subject_{language}"))
    body_text = text(getattr(variant, f"email_text_{language}"))
    title = text(offer.title_for(language)) if offer is not None else subject
    body = text(offer.body_for(language)) if offer is not None else body_text
    return Rendered(
        subject=subject,
        text=body_text or body,
        html=html(getattr(variant, f"email_html_{language}")),
        sms=text(getattr(variant, f"sms_text_{language}")) or body_text or body,
        title=title,
        body=body or body_text,
    )


def message_for(
    *,
    delivery: Delivery,
    member: Member,
    email: str,
    channel: str,
    purpose: str,
    consent_channel: str,
    context: dict[str, Any],
) -> Message:
    """The message one delivery sends: rendered, tracked, with its unsubscribe link."""
    assert delivery.variant is not None
    language = member.preferred_language
    rendered = render_variant(variant=delivery.variant, language=language, context=context)
    message = Message(
        delivery_id=delivery.pk,
        member_id=member.pk,
        language=language,
        subject=rendered.subject,
        title=rendered.title,
        text=rendered.body if channel == "onsite" else rendered.text,
    )
    if channel == "email":
        url = unsubscribe_url(member=member, purpose=purpose, channel=consent_channel)
        with override(language):
            footer = _("Unsubscribe")
        message.to = email
        message.text = _track(rendered.text, delivery.pk, html=False) + f"\n\n{footer}: {url}\n"
        html = _track(rendered.html, delivery.pk, html=True) if rendered.html else ""
        if html:
            html += (
                f'<p><a href="{url}">{footer}</a></p>'
                f'<img src="{open_pixel_url(delivery.pk)}" width="1" height="1" alt="">'
            )
        message.html = html
        message.headers = unsubscribe_headers(url)
    elif channel == "sms":
        url = unsubscribe_url(member=member, purpose=purpose, channel=consent_channel)
        with override(language):
            footer = _("Stop")
        message.to = member.phone
        message.text = _track(rendered.sms, delivery.pk, html=False) + f"\n{footer}: {url}"
    return message


def preview(
    *, campaign: Campaign, variant: Variant, member: Member
) -> dict[str, Any]:
    """What ``member`` would get from ``variant``, in their language, on each channel."""
    from campaigns.channels import sms_segments

    language = member.preferred_language
    fields = fields_used(*_sources(variant, "", language))
    context = member_contexts([member], fields=fields)[member.pk]
    rendered = render_variant(variant=variant, language=language, context=context)
    characters, segments, encoding = sms_segments(rendered.sms)
    return {
        "language": language,
        "rendered": rendered,
        "sms_characters": characters,
        "sms_segments": segments,
        "sms_encoding": encoding,
        "channels": list(campaign.channels),
    }
