"""What an endpoint receives: the public event body, limited by the endpoint's purpose.

``members.outbox.event_payload`` gives ids and small facts (the default). Personal details
(name, email, mobile number, birth date, postcode) are added under ``data.member_details``
only when the endpoint lists them and its purpose in the processing register allows them;
any such key anywhere in the event's data is removed otherwise. The kinds of data a body
carries are what the share record names (consent.webhooks.shares).
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext_lazy as _

from consent.models import Purpose
from consent.processing_register import register_entries
from members.models import Member, OutboxEvent
from members.outbox import event_payload

# Personal details an endpoint may ask for: kind -> (register keys, how to read it).
PERSONAL_KINDS: dict[str, tuple[tuple[str, ...], Any]] = {
    "name": (
        ("Member.first_name", "Member.last_name"),
        lambda m: {"first_name": m.first_name, "last_name": m.last_name},
    ),
    "email": (("User.email",), lambda m: {"email": m.user.email if m.user_id else None}),
    "phone": (("Member.phone",), lambda m: {"phone": m.phone or None}),
    "birth_date": (
        ("Member.birth_date",),
        lambda m: {"birth_date": m.birth_date.isoformat() if m.birth_date else None},
    ),
    "postcode": (("Member.postcode",), lambda m: {"postcode": m.postcode or None}),
}
PERSONAL_KIND_LABELS = {
    "name": _("name"),
    "email": _("email address"),
    "phone": _("mobile number"),
    "birth_date": _("birth date"),
    "postcode": _("postcode"),
}
# Keys that would carry those details; removed from any body that may not have them.
_PERSONAL_KEYS = {
    "name",
    "first_name",
    "last_name",
    "full_name",
    "email",
    "phone",
    "birth_date",
    "postcode",
    "address",
    "member_details",
}
# The kind of data each event type carries about the member (besides the membership number).
_TYPE_KINDS = {
    "purchase": "purchases",
    "points": "points",
    "tier": "tier",
    "voucher": "vouchers",
    "consent": "consents",
    "checkin": "checkins",
}


def register_purpose_code(purpose: Purpose) -> str:
    """The processing register's purpose a consent purpose stands for."""
    if purpose.category == Purpose.Category.PARTNER:
        return "partner_sharing"
    return purpose.code


def personal_kinds_allowed(purpose: Purpose) -> list[str]:
    """The personal details the purpose allows in a payload: a partner the member agreed to
    may get any (the consent text names them); otherwise the register must list every field
    of the kind under the purpose."""
    if purpose.category == Purpose.Category.PARTNER:
        return list(PERSONAL_KINDS)
    code = register_purpose_code(purpose)
    registered = {e.key: e.purpose for e in register_entries()}
    return [
        kind
        for kind, (keys, _read) in PERSONAL_KINDS.items()
        if all(registered.get(key) == code for key in keys)
    ]


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _PERSONAL_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def payload_build(
    event: OutboxEvent, *, personal: list[str], member: Member | None
) -> tuple[bytes, list[str]]:
    """The body for one endpoint (compact JSON, UTF-8) and the kinds of member data in it.

    ``personal`` are the endpoint's allowed details; ``member`` the event's member with its
    user loaded (None for events without one)."""
    payload = event_payload(event)
    data = _strip(payload.get("data") or {})
    kinds: list[str] = []
    if member is not None and event.member_id is not None:
        if data.get("membership_number"):
            kinds.append("membership_number")
        kind = _TYPE_KINDS.get(event.type.split(".", 1)[0])
        if kind:
            kinds.append(kind)
        if personal and member.erased_at is None:
            details: dict[str, Any] = {}
            for name in personal:
                if name in PERSONAL_KINDS:
                    details.update(PERSONAL_KINDS[name][1](member))
                    kinds.append(name)
            data["member_details"] = details
    payload["data"] = data
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
    return body.encode(), kinds
