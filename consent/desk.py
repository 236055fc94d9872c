"""The consent part of the staff desk (members.desk): what the member allows us to send and
by which channel, their interests and consent given in store; and the staff access log of
every staff view of one member (``members.staff_access``), the desk's included."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from consent.models import ConsentEvent, Interest
from consent.selectors import (
    consent_states,
    interests_active_list,
    member_interest_ids,
    purposes_all_list,
    purposes_needing_consent_list,
)
from consent.services.access_log import access_log_record
from consent.services.consent import consent_set
from members.actors import request_staff
from members.desk_views import desk_view
from members.models import Member


def consent_section(request: HttpRequest, member: Member) -> str:
    states = consent_states(member=member)
    purposes = purposes_needing_consent_list()
    chosen = member_interest_ids(member=member)
    sv = (getattr(request, "LANGUAGE_CODE", "") or "").startswith("sv")
    return render_to_string(
        "admin/desk/consent.html",
        {
            "member": member,
            "rows": [
                (purpose.name_sv if sv else purpose.name_en, purpose, states.get(purpose.pk))
                for purpose in purposes
            ],
            "interests": [
                i.name_sv if sv else i.name_en for i in interests_active_list() if i.pk in chosen
            ],
            "can_record": request.user.has_perm("members.change_member"),
        },
        request=request,
    )


@desk_view
@require_POST
def consent_in_store(request: HttpRequest, member_id: int) -> HttpResponse:
    """The member told staff in store that they agree: recorded with the staff member as the
    actor and "Staff in store" as the source (the proof)."""
    if not request.user.has_perm("members.change_member"):
        raise PermissionDenied
    member = get_object_or_404(Member, pk=member_id, erased_at__isnull=True)
    purposes = {str(p.pk): p for p in purposes_needing_consent_list()}
    purpose = purposes.get(request.POST.get("purpose", ""))
    if purpose is None:
        messages.error(request, _("Choose what the member agreed to."))
    else:
        event = consent_set(
            member=member,
            purpose=purpose,
            granted=True,
            source=ConsentEvent.Source.STORE,
            actor=request_staff(request),
        )
        messages.success(
            request,
            _("The consent was recorded.") if event else _("The member had already agreed."),
        )
    return HttpResponseRedirect(reverse("desk:member", args=[member.pk]))


def purpose_name(code: str) -> str | None:
    """A consent purpose's name in the page's language, for the timeline's sentences."""
    purpose = next((p for p in purposes_all_list() if p.code == code), None)
    return str(purpose) if purpose is not None else None


def interest_name(code: str) -> str | None:
    """An interest's name in the page's language, for the timeline's sentences."""
    row = Interest.objects.filter(code=code).values("name_sv", "name_en").first()
    if row is None:
        return None
    return str(row["name_sv"] if get_language().startswith("sv") else row["name_en"])


def staff_access_log(request: HttpRequest, member_id: int, view: str) -> None:
    """``members.staff_access``'s recorder: one access-log row."""
    access_log_record(staff=request_staff(request), member_id=member_id, view=view)


def desk_register() -> None:
    """Called from ``ConsentConfig.ready``."""
    from members.desk import desk_section_register
    from members.labels import fact_name_register
    from members.staff_access import staff_access_register

    fact_name_register("purpose", purpose_name)
    fact_name_register("interest", interest_name)
    desk_section_register(name="consent.consent", order=30, render=consent_section)
    staff_access_register(name="consent.access_log", recorder=staff_access_log)
