"""The record of every share, in plain words on Mina data.

Each delivered webhook body about a member writes a ``PartnerShare`` (consent.webhooks.
delivery): who received it as members read it, the kinds of data, when, and why. Mina data
groups a day's shares with one receiver into one sentence: "Webbutiken fick ditt
medlemsnummer och dina poäng 4 dec. 2026 för att visa dina poäng i kassan". The export
holds every row; erasure keeps them without the free-text reference (docs/privacy.md).
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from consent.models import PartnerShare
from members.formats import date_short
from members.models import Member

# The kinds of data, as the sentence names them ("Webbutiken fick <ditt medlemsnummer>").
SHARED_KIND_PHRASES: dict[str, Promise] = {
    "membership_number": gettext_lazy("your membership number"),
    "points": gettext_lazy("your points"),
    "purchases": gettext_lazy("your purchases"),
    "tier": gettext_lazy("your tier"),
    "vouchers": gettext_lazy("your vouchers"),
    "consents": gettext_lazy("your consent choices"),
    "checkins": gettext_lazy("your check-ins"),
    "name": gettext_lazy("your name"),
    "email": gettext_lazy("your email address"),
    "phone": gettext_lazy("your mobile number"),
    "birth_date": gettext_lazy("your birth date"),
    "postcode": gettext_lazy("your postcode"),
}
SHOWN_GROUPS = 100


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return _("%(first)s and %(last)s") % {"first": ", ".join(parts[:-1]), "last": parts[-1]}


def _kinds_phrase(codes: list[str]) -> str:
    order = list(SHARED_KIND_PHRASES)
    known = sorted((c for c in codes if c in SHARED_KIND_PHRASES), key=order.index)
    other = sorted(c for c in codes if c not in SHARED_KIND_PHRASES)
    return _join(
        [str(SHARED_KIND_PHRASES[c]) for c in known] + [c.replace("_", " ") for c in other]
    )


def share_sentence(*, recipient: str, kinds: list[str], shared_on: str, reason: str) -> str:
    values = {"recipient": recipient, "what": _kinds_phrase(kinds), "when": shared_on}
    if reason:
        return _("%(recipient)s received %(what)s on %(when)s to %(reason)s") % {
            **values,
            "reason": reason,
        }
    return _("%(recipient)s received %(what)s on %(when)s") % values


def partner_share_rows(member: Member) -> list[dict[str, str]]:
    """Mina data's rows: one sentence per receiver, day and reason, newest first."""
    swedish = (get_language() or "sv").startswith("sv")
    groups: dict[tuple[str, str, str], set[str]] = {}
    for share in (
        PartnerShare.objects.filter(member_id=member.pk)
        .select_related("purpose")
        .order_by("-shared_at", "-id")
        .iterator(chunk_size=500)
    ):
        recipient = share.recipient or share.purpose.partner_name or share.purpose.name
        reason = share.reason_sv if swedish else share.reason_en
        key = (date_short(share.shared_at), recipient, reason)
        if key not in groups and len(groups) >= SHOWN_GROUPS:
            break
        groups.setdefault(key, set()).update(share.data_categories)
    return [
        {
            "text": share_sentence(
                recipient=recipient, kinds=sorted(kinds), shared_on=day, reason=reason
            )
        }
        for (day, recipient, reason), kinds in groups.items()
    ]
