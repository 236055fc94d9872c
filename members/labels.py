"""Plain-language labels for the codes members' rows store (docs/roles.md, "Back-office
language"). The stored values stay codes; the back-office shows these labels, in Swedish or
English, through ``label_for`` and ``labelled_filter`` (``members.admin_base``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from members.activity_kinds import Kind


class Event(Protocol):
    """What ``event_sentence`` reads of an ``ActivityEvent`` (no import of the models)."""

    kind: str
    data: Any
    store_id: int | None
    store: Any


EVENT_KIND_LABELS: dict[str, Promise] = {
    Kind.JOINED: _("Joined the club"),
    Kind.EMAIL_VERIFIED: _("Confirmed the email address"),
    Kind.ACCOUNT_ACTIVATED: _("Activated the online account"),
    Kind.PROFILE_UPDATED: _("Changed the profile"),
    Kind.CARD_ROTATED: _("Got a new card QR code"),
    Kind.LANGUAGE_CHANGED: _("Changed language"),
    Kind.PURCHASED: _("Made a purchase"),
    Kind.RETURNED: _("Returned goods"),
    Kind.PURCHASE_CLAIMED: _("Claimed a purchase"),
    Kind.CHECKED_IN: _("Checked in"),
    Kind.POINTS_ADJUSTED: _("Points adjusted by staff"),
    Kind.POINTS_REDEEMED: _("Used points"),
    Kind.POINTS_EXPIRED: _("Points expired"),
    Kind.REWARD_CLAIMED: _("Claimed a reward"),
    Kind.VOUCHER_USED: _("Used a voucher"),
    Kind.TIER_CHANGED: _("Changed tier"),
    Kind.BENEFIT_CHOSEN: _("Chose a benefit"),
    Kind.VOUCHER_CANCELLED: _("Voucher cancelled"),
    Kind.WAITLIST_JOINED: _("Joined a waiting list"),
    Kind.REFERRAL_JOINED: _("Joined through a friend's invitation"),
    Kind.REVIEW_SUBMITTED: _("Sent in a review or post"),
    Kind.CHALLENGE_COMPLETED: _("Completed a challenge"),
    Kind.REFERRAL_COMPLETED: _("An invited friend joined"),
    Kind.REVIEW_APPROVED: _("Review or post approved"),
    Kind.CONSENT_GRANTED: _("Gave consent"),
    Kind.CONSENT_WITHDRAWN: _("Withdrew consent"),
    Kind.PREFERENCES_CHANGED: _("Changed contact preferences"),
    Kind.INTERESTS_CHANGED: _("Changed interests"),
    Kind.INTERESTS_ASKED: _("Asked about interests"),
    Kind.MESSAGE_RECEIVED: _("Received a message"),
    Kind.OFFER_ACTIVATED: _("Activated an offer"),
    Kind.DATA_EXPORTED: _("Got a copy of their data"),
    Kind.ERASURE_REQUESTED: _("Asked to be erased"),
    Kind.ERASURE_CANCELLED: _("Cancelled the erasure request"),
    Kind.ERASED: _("Erased"),
    Kind.MERGED: _("Merged with another membership"),
}

# Where an event came from (``ActivityEvent.source``): the services' ``source=`` values and
# consent's ``ConsentEvent.Source`` values, which consent's services pass on.
EVENT_SOURCE_LABELS: dict[str, Promise] = {
    "web": _("Member web page"),
    "signup": _("Sign-up"),
    "store": _("Staff in store"),
    "staff": _("Staff"),
    "admin": _("Back-office (staff)"),
    "api": _("Till or web shop (API)"),
    "import": _("Import"),
    "unsubscribe": _("Unsubscribe link"),
    "campaign": _("Campaign"),
    "desk": _("Staff desk"),
    "door": _("Door poster (check-in)"),
    "system": _("System"),
}


def label_for(labels: Mapping[str, Promise | str], code: str) -> str:
    """The label of ``code`` in the current language; an unknown code is shown as it is
    (a test keeps every known code labelled)."""
    if not code:
        return "—"
    label = labels.get(code)
    return str(label) if label is not None else code


# An event's facts (``ActivityEvent.data``): names for the keys, and for the values of the
# keys whose values are codes. Other keys are shown with spaces for underscores.
FACT_KEY_LABELS: dict[str, Promise] = {
    "channel": _("channel"),
    "kind": _("kind"),
    "points": _("points"),
    "language": _("language"),
    "fields": _("fields"),
    "added": _("added"),
    "removed": _("removed"),
    "quiet_hours": _("quiet hours"),
    "max_messages_per_week": _("messages per week at most"),
    "paused_days": _("paused for days"),
    "period": _("period"),
    "reason": _("reason"),
    "to_code": _("new tier"),
    "return_id": _("return"),
    "seeded": _("demo data"),
}
FACT_VALUE_LABELS: dict[str, dict[str, Promise]] = {
    "channel": {
        "": _("Any channel"),
        "web": _("Web"),
        "store": _("Store"),
        "webshop": _("Web shop"),
        "import": _("Import"),
        "email": pgettext_lazy("channel", "Email"),
        "sms": _("SMS"),
        "onsite": _("Member pages"),
    },
    # rewards' Review.Kind and Reward.Kind (a review's and a claimed reward's "kind")
    "kind": {
        "review": _("Review"),
        "social": _("Social media post"),
        "discount_percent": _("Discount (percent)"),
        "discount_amount": _("Discount (SEK)"),
        "free_product": _("Free product"),
        "partner": _("Partner reward"),
        "invitation": _("Invitation"),
        "donation": _("Donation to charity"),
    },
    "language": {"sv": _("Swedish"), "en": _("English")},
    # rewards' TierChange.Reason
    "reason": {
        "purchase": _("A purchase crossed the threshold"),
        "reevaluation": _("Nightly re-evaluation"),
        "grace_ended": _("Below the threshold after the grace period"),
        "staff": _("Set by staff"),
    },
}


def _fact_value(key: str, value: object) -> str:
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, list):
        return ", ".join(_fact_value(key, item) for item in value) or "—"
    if value is None:
        return "—"
    labels = FACT_VALUE_LABELS.get(key, {})
    return str(labels[value]) if isinstance(value, str) and value in labels else str(value)


def facts_text(data: Mapping[str, object] | None) -> str:
    """An event's facts in words: ``{"channel": "email", "quiet_hours": True}`` -> "channel:
    Email, quiet hours: yes" (in the page's language). Row ids (``*_id``, tiers' ``from`` and
    ``to``) are for the programs that read the timeline, not for staff, and are left out;
    a fact without a name here is left out too rather than shown as a code."""
    return ", ".join(
        f"{FACT_KEY_LABELS[key]}: {_fact_value(key, value)}"
        for key, value in (data or {}).items()
        if key in FACT_KEY_LABELS
    )


# An event as one sentence, for the staff desk ("Bought for 1 298,00 kr in Södermalm"), in
# the page's language. Names that live in higher apps (a consent purpose's, a reward's, a
# tier's, a challenge's, an offer's, a campaign's) come from resolvers those apps register
# (``fact_name_register``: fact key -> name). A sentence whose name cannot be found (the row
# is gone) falls back to the kind's label and its facts, never to a code.
EVENT_SENTENCES: dict[str, Promise] = {
    Kind.JOINED: _("Became a member via %(channel)s"),
    Kind.EMAIL_VERIFIED: _("Confirmed the email address"),
    Kind.ACCOUNT_ACTIVATED: _("Activated their online account via %(channel)s"),
    Kind.PROFILE_UPDATED: _("Changed their details"),
    Kind.CARD_ROTATED: _("Got a new card QR code"),
    Kind.LANGUAGE_CHANGED: _("Chose %(language)s as language"),
    Kind.PURCHASED: _("Bought for %(amount)s in %(store)s"),
    Kind.RETURNED: _("Returned goods in %(store)s"),
    Kind.PURCHASE_CLAIMED: _("Added a purchase afterwards: %(points)s p"),
    Kind.CHECKED_IN: _("Checked in at %(store)s"),
    Kind.POINTS_ADJUSTED: _("Points adjusted by staff: %(points)s p"),
    Kind.POINTS_REDEEMED: _("Used %(points)s points"),
    Kind.POINTS_EXPIRED: _("%(points)s points expired"),
    Kind.REWARD_CLAIMED: _("Chose the reward %(reward)s"),
    Kind.VOUCHER_USED: _("Used the voucher for %(reward)s in %(store)s"),
    Kind.TIER_CHANGED: _("New tier: %(tier)s"),
    Kind.BENEFIT_CHOSEN: _("Chose this period's tier benefits"),
    Kind.VOUCHER_CANCELLED: _("Cancelled a voucher and got %(points)s points back"),
    Kind.WAITLIST_JOINED: _("Joined the waiting list for %(reward)s"),
    Kind.REFERRAL_JOINED: _("Joined through a friend's invitation"),
    Kind.REVIEW_SUBMITTED: _("Sent in a review or post"),
    Kind.CHALLENGE_COMPLETED: _("Completed the challenge %(challenge)s: %(points)s p"),
    Kind.REFERRAL_COMPLETED: _("A friend they invited joined"),
    Kind.REVIEW_APPROVED: _("Their review or post was approved"),
    # A purpose's name says its channel ("Offers by email"): no "via" after it.
    Kind.CONSENT_GRANTED: _("Gave consent to %(purpose)s"),
    Kind.CONSENT_WITHDRAWN: _("Withdrew consent to %(purpose)s"),
    Kind.PREFERENCES_CHANGED: _("Changed how often and when we may contact them"),
    Kind.INTERESTS_CHANGED: _("Changed their interests"),
    Kind.INTERESTS_ASKED: _("Was asked what they like, after signing up"),
    Kind.MESSAGE_RECEIVED: _("Received %(campaign)s via %(channel)s"),
    Kind.OFFER_ACTIVATED: _("Activated the offer %(offer)s"),
    Kind.DATA_EXPORTED: _("Got a copy of their data"),
    Kind.ERASURE_REQUESTED: _("Asked to be erased"),
    Kind.ERASURE_CANCELLED: _("Cancelled the erasure request"),
    Kind.ERASED: _("Erased"),
    Kind.MERGED: _("Two memberships were merged into this one"),
}
PAUSED_SENTENCE = _("Paused offers for %(days)s days")
RESUMED_SENTENCE = _("Resumed offers")
INTERESTS_SENTENCE = _("Changed their interests: added %(added)s, removed %(removed)s")

# The names a sentence needs, by placeholder: (fact key in the event's data, resolver key).
_NAMED_FACTS = {
    "purpose": ("purpose", "purpose"),
    "reward": ("reward_id", "reward"),
    "tier": ("to", "tier"),
    "challenge": ("challenge_id", "challenge"),
    "offer": ("offer_id", "offer"),
    "campaign": ("campaign_id", "campaign"),
}
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")

_fact_names: dict[str, Callable[[str], str | None]] = {}


def fact_name_register(key: str, resolver: Callable[[str], str | None]) -> None:
    """A higher app names the values of one fact (consent: a purpose's code -> its name;
    rewards: a reward's, tier's or challenge's id -> its name in the page's language)."""
    _fact_names[key] = resolver


def _named(data: Mapping[str, Any], placeholder: str) -> str:
    fact, resolver_key = _NAMED_FACTS[placeholder]
    value = data.get(fact)
    resolver = _fact_names.get(resolver_key)
    if value in (None, "") or resolver is None:
        return ""
    return resolver(str(value)) or ""


def _interest_names(codes: object) -> str:
    resolver = _fact_names.get("interest")
    names = [
        (resolver(str(code)) if resolver else None) or str(code)
        for code in (codes if isinstance(codes, list) else [])
    ]
    return ", ".join(names) or "—"


def event_sentence(event: Event) -> str:
    """The event in words, in the page's language."""
    from members.kronor import kronor_display

    data = event.data or {}
    template = EVENT_SENTENCES.get(event.kind)
    if event.kind == Kind.PREFERENCES_CHANGED and "paused_days" in data:
        days = data["paused_days"]
        template = PAUSED_SENTENCE if days else RESUMED_SENTENCE
    if event.kind == Kind.INTERESTS_CHANGED and ("added" in data or "removed" in data):
        return str(INTERESTS_SENTENCE) % {
            "added": _interest_names(data.get("added")),
            "removed": _interest_names(data.get("removed")),
        }
    if template is None:
        return _label_and_facts(event.kind, data)
    values: dict[str, Any] = {
        "amount": kronor_display(data.get("total_ore")) if "total_ore" in data else "",
        "store": event.store.name if event.store_id and event.store else str(_("the web shop")),
        "points": data.get("points", ""),
        "days": data.get("paused_days", ""),
        "channel": _in_sentence(_fact_value("channel", data["channel"]))
        if data.get("channel")
        else "",
        "language": _in_sentence(_fact_value("language", data["language"]))
        if data.get("language")
        else "",
    }
    wanted = _PLACEHOLDER.findall(str(template))
    for placeholder in wanted:
        if placeholder in _NAMED_FACTS:
            values[placeholder] = _named(data, placeholder)
    if any(values.get(name) in ("", None) for name in wanted):
        return _label_and_facts(event.kind, data)
    return str(template) % values


def _in_sentence(label: str) -> str:
    """A label inside a sentence: "via e-post", "via SMS" (an acronym keeps its case)."""
    return label if label.isupper() else label[:1].lower() + label[1:]


def _label_and_facts(kind: str, data: Mapping[str, object]) -> str:
    label = label_for(EVENT_KIND_LABELS, kind)
    facts = facts_text(data)
    return f"{label}: {facts}" if facts else label
