"""What the duplicate review page shows of each member, side by side (docs/duplicates.md).

members owns the page (``members.admin_duplicates``) and the profile; higher apps add what
they know from their ``AppConfig.ready``, as they add sections to the staff desk:

- ``duplicate_panel_register(name=..., order=..., title=..., facts=...)``: ``facts(member)``
  returns ``[(label, value), ...]`` as plain text in the page's language. The page lays the
  two members' facts out in rows, label by label, so a difference is seen at a glance.

consent registers the member's consents (``consent.duplicates``), rewards the balance and the
purchases (``rewards.duplicates``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from members.labels import EVENT_KIND_LABELS, label_for
from members.models import ActivityEvent, Member
from members.phone import phone_display

Facts = Callable[[Member], list[tuple[str, str]]]


@dataclass(frozen=True)
class Panel:
    name: str
    order: int
    title: Any  # a lazy translation
    facts: Facts


_panels: dict[str, Panel] = {}


def duplicate_panel_register(*, name: str, order: int, title: Any, facts: Facts) -> None:
    """Add (or replace, by name) a panel of the review page. Lower ``order`` shows first:
    members 10, rewards 20, consent 30."""
    _panels[name] = Panel(name=name, order=order, title=title, facts=facts)


@dataclass(frozen=True)
class ComparedPanel:
    title: str
    rows: list[tuple[str, str, str]]  # (label, first member's value, second member's value)


def duplicate_panels_compare(first: Member, second: Member) -> list[ComparedPanel]:
    """Every registered panel with both members' facts, row by row: the labels in the first
    member's order, then any only the second member has; a missing value is "—"."""
    compared = []
    for panel in sorted(_panels.values(), key=lambda p: (p.order, p.name)):
        facts_a, facts_b = dict(panel.facts(first)), dict(panel.facts(second))
        labels = list(facts_a) + [label for label in facts_b if label not in facts_a]
        compared.append(
            ComparedPanel(
                title=str(panel.title),
                rows=[
                    (label, facts_a.get(label) or "—", facts_b.get(label) or "—")
                    for label in labels
                ],
            )
        )
    return compared


def date_text(value: Any) -> str:
    """A date or time as the page writes it ("5 december 2026", "2026-12-05 14:05")."""
    if value is None:
        return ""
    if hasattr(value, "tzinfo"):
        return formats.date_format(timezone.localtime(value), "Y-m-d H:i")
    return formats.date_format(value, "j F Y")


def member_profile_facts(member: Member) -> list[tuple[str, str]]:
    """members' panel: the profile, the login and the last activity."""
    last = (
        ActivityEvent.objects.filter(member=member)
        .order_by("-created_at", "-id")
        .values("kind", "created_at")
        .first()
    )
    user = member.user
    return [
        (_("Membership number"), member.formatted_membership_number),
        (_("Name"), member.full_name),
        (_("Email"), user.email if user else ""),
        (_("Mobile number"), phone_display(member.phone)),
        (_("Birth date"), date_text(member.birth_date)),
        (_("Postcode"), member.postcode),
        (_("Home store"), member.home_store.name if member.home_store else ""),
        (_("Language"), member.get_preferred_language_display()),
        (
            _("Joined"),
            f"{date_text(member.joined_at)} ({member.get_join_channel_display()})",
        ),
        (
            _("Login"),
            _("yes") if user is not None and user.has_usable_password() else _("no"),
        ),
        (
            _("Last activity"),
            f"{date_text(last['created_at'])} ({label_for(EVENT_KIND_LABELS, last['kind'])})"
            if last
            else "",
        ),
    ]
