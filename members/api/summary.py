"""The member summary a till or the web shop sees after identifying a member.

``members`` knows nothing of points or tiers, so higher apps add their part of the summary
by registering an extender from their ``AppConfig.ready`` (one-way coupling, as with the
activity timeline).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from members.models import Member

Extender = Callable[[Member], dict[str, Any]]

_extenders: dict[str, Extender] = {}


def summary_extender_register(name: str, extender: Extender) -> None:
    _extenders[name] = extender


def member_summary(member: Member) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "membership_number": member.membership_number,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "preferred_language": member.preferred_language,
        "home_store": member.home_store.code if member.home_store else None,
        "member_since": member.joined_at.date().isoformat(),
        "tier": None,
    }
    for extender in _extenders.values():
        summary.update(extender(member))
    return summary
