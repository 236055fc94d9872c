"""The member summary a till or the web shop sees after identifying a member.

``members`` knows nothing of points or tiers, so higher apps add their part of the summary
by registering an extender from their ``AppConfig.ready`` (one-way coupling, as with the
activity timeline).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import serializers

from members.models import Member

Extender = Callable[[Member], dict[str, Any]]

_extenders: dict[str, Extender] = {}
_fields: dict[str, Callable[[], serializers.Field]] = {}


def summary_extender_register(
    name: str,
    extender: Extender,
    *,
    fields: dict[str, Callable[[], serializers.Field]] | None = None,
) -> None:
    """Add ``extender``'s keys to the summary. ``fields`` names the serializer field (a
    factory, so each serializer gets its own instance) for every key it adds, so that the
    response renders them and the OpenAPI schema documents them."""
    _extenders[name] = extender
    _fields.update(fields or {})


def summary_fields() -> dict[str, serializers.Field]:
    """The serializer fields higher apps contributed to the summary."""
    return {name: factory() for name, factory in _fields.items()}


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
