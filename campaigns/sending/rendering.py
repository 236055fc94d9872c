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
from django.template.base import render_value_in_context
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, override

from campaigns.models import Campaign, Offer, Variant
from campaigns.personalisation.selectors import recommended_products_bulk
from campaigns.sending.channels import Message, sms_segments
from consent.unsubscribe import unsubscribe_headers, unsubscribe_url
from members.models import Member
from rewards.models import MemberTier, PointBalance, PointLot
from rewards.selectors import next_tiers_bulk

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


@dataclass(frozen=True)
class Person:
    """What rendering and addressing need of a member: read once per batch."""

    pk: int
    first_name: str
    language: str
    phone: str
    email: str


def people(member_ids: Iterable[int]) -> dict[int, Person]:
    return {
        pk: Person(pk, first_name, language, phone, email or "")
        for pk, first_name, language, phone, email in Member.objects.filter(
            pk__in=list(member_ids)
        ).values_list("pk", "first_name", "preferred_language", "phone", "user__email")
    }


def person_of(member: Member) -> Person:
    user = member.user
    return Person(
        member.pk,
        member.first_name,
        member.preferred_language,
        member.phone,
        user.email if user is not None else "",
    )


_engine = Engine(autoescape=True)
_text_engine = Engine(autoescape=False)


class _Plain:
    """A text with only ``{{ field }}`` placeholders (no tags, no filters): rendered by
    string joins, the same result as Django's engine at a fraction of the cost. Anything
    else is compiled by the Django template engine."""

    VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

    def __init__(self, parts: list[str], html: bool) -> None:
        self.parts = parts
        self.html = html

    @classmethod
    def compile(cls, source: str, html: bool) -> _Plain | None:
        if "{%" in source or "{#" in source:
            return None
        parts = cls.VAR.split(source)
        if any("{{" in literal or "}}" in literal for literal in parts[0::2]):
            return None
        return cls(parts, html)

    def render(self, context: Context) -> str:
        out = []
        for index, part in enumerate(self.parts):
            if index % 2 == 0:
                out.append(part)
                continue
            # As the engine does: localized, then escaped when the context autoescapes.
            out.append(render_value_in_context(context.get(part, ""), context))
        return "".join(out)


@lru_cache(maxsize=512)
def _template(source: str, html: bool) -> Template | _Plain:
    return _Plain.compile(source, html) or (_engine if html else _text_engine).from_string(source)


def template_check(source: str) -> None:
    """Raise ``TemplateSyntaxError`` when ``source`` does not compile."""
    _engine.from_string(source)


def fields_used(*sources: str) -> set[str]:
    text = " ".join(sources)
    return {name for name in MERGE_FIELDS if re.search(r"\{\{\s*" + name + r"\b", text)}


def sources(variant: Variant, language: str) -> list[str]:
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
    members: Iterable[Person], *, fields: set[str], now: datetime.datetime | None = None
) -> dict[int, dict[str, Any]]:
    """Merge-field values for many members, a query per field used (not per member)."""
    members = list(members)
    ids = [m.pk for m in members]
    now = now or timezone.now()
    contexts: dict[int, dict[str, Any]] = {
        m.pk: {"first_name": m.first_name, "language": m.language} for m in members
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
        for lot_sum in rows:
            contexts[lot_sum["member_id"]]["expiring_points"] = lot_sum["points"]
        for ctx in contexts.values():
            ctx.setdefault("expiring_points", 0)
            ctx.setdefault("expiring_date", timezone.localtime(horizon).date().isoformat())
    if "points_to_next_tier" in fields:
        nexts = next_tiers_bulk(member_ids=ids, now=now)
        for member_id, ctx in contexts.items():
            ctx["points_to_next_tier"] = _to_next_tier(nexts.get(member_id), ctx["language"])
    if "recommended_products" in fields:
        # Personalisation's selector, not the table: it checks the profiling consent at this
        # moment, so a member who withdrew it a second ago gets no recommendations.

        recommended = recommended_products_bulk(
            member_ids=ids,
            limit=3,
            languages={pk: ctx["language"] for pk, ctx in contexts.items()},
        )
        for member_id, ctx in contexts.items():
            ctx["recommended_products"] = ", ".join(
                rec.name or rec.sku for rec in recommended.get(member_id, [])
            )
    return contexts


def _to_next_tier(next_tier: Any, language: str) -> str:
    """ "1 250 poäng till Guld" / "1,250 points to Gold" in the member's language; empty at
    the top of the ladder or when the member already qualifies (the upgrade is on its way)."""
    if next_tier is None or next_tier.remaining <= 0:
        return ""
    language = language if language in ("sv", "en") else "sv"
    with override(language):
        name = next_tier.tier.name_for(language)
        if next_tier.spend_basis:
            amount = number_format(-(-next_tier.remaining // 100), force_grouping=True)
            return _("%(amount)s SEK to %(tier)s") % {"amount": amount, "tier": name}
        count = next_tier.remaining
        return ngettext("%(points)s point to %(tier)s", "%(points)s points to %(tier)s", count) % {
            "points": number_format(count, force_grouping=True),
            "tier": name,
        }


def _track(text: str, delivery_id: int, *, html: bool) -> str:
    base = settings.SITE_URL.rstrip("/")

    def replace(match: re.Match[str]) -> str:
        url = match.group(0)
        if url.startswith((base + "/avregistrera/", base + "/k/")):
            return url
        token = signing.dumps([delivery_id, url], salt=CLICK_SALT, compress=True)
        return str(base + reverse("campaigns:click", args=[token]))

    return URL_RE.sub(replace, text)


def open_pixel_url(delivery_id: int) -> str:
    token = signing.dumps(delivery_id, salt=OPEN_SALT)
    return str(settings.SITE_URL.rstrip("/") + reverse("campaigns:open", args=[token]))


@dataclass
class Rendered:
    subject: str = ""
    text: str = ""
    html: str = ""
    sms: str = ""
    title: str = ""
    body: str = ""


# Which texts each channel needs; the rest are not rendered.
PARTS = {
    "email": {"subject", "text", "html"},
    "sms": {"sms"},
    "onsite": {"title", "body"},
    "test": {"subject", "text"},
    "noop": {"subject", "text"},
}
ALL_PARTS = {"subject", "text", "html", "sms", "title", "body"}


def render_variant(
    *,
    variant: Variant,
    language: str,
    context: dict[str, Any],
    parts: set[str] | None = None,
) -> Rendered:
    """The variant's texts for one member (no tracking, no unsubscribe: see ``message_for``).
    Empty texts fall back: email text -> offer text, SMS -> email text -> offer text."""
    language = language if language in ("sv", "en") else "sv"
    parts = ALL_PARTS if parts is None else parts
    offer: Offer | None = variant.offer
    ctx = dict(context)
    if offer is not None:
        ctx["offer_title"] = offer.title_for(language)

    text_context = Context(ctx, autoescape=False)

    def text(source: str) -> str:
        return _template(source, False).render(text_context) if source else ""

    def field(name: str) -> str:
        return str(getattr(variant, f"{name}_{language}"))

    out = Rendered()
    offer_body = (
        text(offer.body_for(language))
        if offer is not None and (parts & {"body", "text", "sms"})
        else ""
    )
    if parts & {"subject", "title"}:
        out.subject = text(field("email_subject"))
    if parts & {"text", "sms", "body"}:
        out.text = text(field("email_text")) or offer_body
    if "html" in parts:
        source = field("email_html")
        out.html = _template(source, True).render(Context(ctx, autoescape=True)) if source else ""
    if "sms" in parts:
        out.sms = text(field("sms_text")) or out.text
    if "title" in parts:
        out.title = text(offer.title_for(language)) if offer is not None else out.subject
    if "body" in parts:
        out.body = offer_body or out.text
    return out


def message_for(
    *,
    delivery_id: int,
    person: Person,
    variant: Variant,
    channel: str,
    purpose: str,
    consent_channel: str,
    context: dict[str, Any],
) -> Message:
    """The message one delivery sends: rendered, tracked, with its unsubscribe link."""
    language = person.language
    rendered = render_variant(
        variant=variant, language=language, context=context, parts=PARTS.get(channel, ALL_PARTS)
    )
    message = Message(
        delivery_id=delivery_id,
        member_id=person.pk,
        language=language,
        subject=rendered.subject,
        title=rendered.title,
        text=rendered.body if channel == "onsite" else rendered.text,
    )
    if channel in ("email", "sms"):
        # Only the id is read from the member to sign the link.
        url = unsubscribe_url(member=Member(pk=person.pk), purpose=purpose, channel=consent_channel)
    if channel == "email":
        with override(language):
            footer = _("Unsubscribe")
        message.to = person.email
        message.text = _track(rendered.text, delivery_id, html=False) + f"\n\n{footer}: {url}\n"
        html = _track(rendered.html, delivery_id, html=True) if rendered.html else ""
        if html:
            html += (
                f'<p><a href="{url}">{footer}</a></p>'
                f'<img src="{open_pixel_url(delivery_id)}" width="1" height="1" alt="">'
            )
        message.html = html
        message.headers = unsubscribe_headers(url)
    elif channel == "sms":
        with override(language):
            footer = _("Stop")
        message.to = person.phone
        message.text = _track(rendered.sms, delivery_id, html=False) + f"\n{footer}: {url}"
    return message


def preview(*, campaign: Campaign, variant: Variant, member: Member) -> dict[str, Any]:
    """What ``member`` would get from ``variant``, in their language, on each channel."""
    language = member.preferred_language
    fields = fields_used(*sources(variant, language))
    context = member_contexts([person_of(member)], fields=fields)[member.pk]
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
