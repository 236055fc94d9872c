"""consent's panel on the duplicate review page (members.duplicate_panels): what each of the
two members allows, purpose by purpose, so the reviewer sees what a merge would combine (the
most restrictive answer wins, docs/merging.md)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consent.selectors import consent_states, purposes_needing_consent_list
from members.duplicate_panels import date_text, duplicate_panel_register
from members.models import Member


def consent_facts(member: Member) -> list[tuple[str, str]]:
    states = consent_states(member=member)
    rows = []
    for purpose in purposes_needing_consent_list():
        state = states.get(purpose.pk)
        if state is not None and state.granted:
            value = _("yes, since %(date)s") % {"date": date_text(state.changed_at.date())}
        else:
            value = _("no")
        rows.append((str(purpose), value))
    return rows


def register() -> None:
    """Called from ``ConsentConfig.ready``."""
    duplicate_panel_register(
        name="consent", order=30, title=gettext_lazy("Consents"), facts=consent_facts
    )
