"""The staff desk's pages (members.desk): the search and the customer view.

Both sit in the back-office (staff login, ``admin_site.admin_view``) and need
``members.view_member``: the Store staff, DPO and Administrator roles, never the Marketer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from members.activation import Identifier, activation_candidate, activation_send_by_staff
from members.actors import request_actor
from members.desk import desk_home_render, desk_sections_render
from members.errors import DomainError
from members.labels import EVENT_SOURCE_LABELS, event_sentence, label_for
from members.models import Member
from members.phone import phone_display
from members.selectors import member_desk_find, member_resolve, member_timeline
from members.services import email_verification_resend
from members.staff_access import staff_access

View = Callable[..., HttpResponse]


def desk_view(view: View) -> View:
    """Staff only (the admin's login), with permission to see members; never cached."""

    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm("members.view_member"):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    checked.__name__ = view.__name__
    checked.__doc__ = view.__doc__
    return admin.site.admin_view(never_cache(checked))


TIMELINE_SHOWN = 10


def timeline_section(request: HttpRequest, member: Member) -> str:
    """The member's latest events in words: what happened, the facts, where and by whom."""
    events = [
        {
            "event": event,
            "text": event_sentence(event),
            "source": label_for(EVENT_SOURCE_LABELS, event.source),
        }
        for event in member_timeline(member=member, limit=TIMELINE_SHOWN)
    ]
    return render_to_string("admin/desk/timeline.html", {"events": events}, request=request)


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    # The whole tablet width for the member: no model list beside it.
    return {**admin.site.each_context(request), "is_nav_sidebar_enabled": False, **extra}


@desk_view
def desk_home(request: HttpRequest) -> HttpResponse:
    """Scan or type; one match opens the member, several (a shared phone) are listed."""
    term = request.GET.get("q", "").strip()[:200]
    results: list[Member] = []
    error = ""
    if term:
        try:
            results = member_desk_find(term)
        except DomainError as exc:
            error = str(exc.message)
        else:
            if len(results) == 1:
                return HttpResponseRedirect(reverse("desk:member", args=[results[0].pk]))
            if not results:
                error = _("No member found for “%(term)s”.") % {"term": term}
    return TemplateResponse(
        request,
        "admin/desk/home.html",
        _context(
            request,
            title=_("Staff desk"),
            term=term,
            results=[(m, phone_display(m.phone) if m.phone else "") for m in results],
            error=error,
            parts=desk_home_render(request) if not term else [],
        ),
        status=200 if not error else 404,
    )


@desk_view
def desk_member(request: HttpRequest, member_id: int) -> HttpResponse:
    """One customer view: the member's header, then every app's section."""
    member = get_object_or_404(
        Member.objects.select_related("user", "home_store"), pk=member_id, erased_at__isnull=True
    )
    if member.merged_into_id is not None:  # an old link to a merged member: the survivor
        return HttpResponseRedirect(reverse("desk:member", args=[member_resolve(member).pk]))
    sections = desk_sections_render(request, member)
    response = TemplateResponse(
        request,
        "admin/desk/member.html",
        _context(
            request,
            title=str(member),
            member=member,
            phone=phone_display(member.phone) if member.phone else "",
            sections=sections,
            can_open_record=request.user.has_perm("members.change_member"),
            email_unconfirmed=EmailAddress.objects.filter(
                user_id=member.user_id, primary=True, verified=False
            ).exists(),
            # No login, or an imported one without a password: the desk sends activation.
            can_activate=activation_candidate(Identifier("number", member.membership_number))
            is not None,
        ),
    )
    staff_access(request, member.pk, "desk")
    return response


@desk_view
@require_POST
def verification_resend(request: HttpRequest, member_id: int) -> HttpResponse:
    """ "Send the confirmation mail again" (``members.change_member``)."""
    if not request.user.has_perm("members.change_member"):
        raise PermissionDenied
    member = get_object_or_404(Member, pk=member_id, erased_at__isnull=True)
    try:
        address = email_verification_resend(member=member, request=request)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("A new confirmation link was sent to %(email)s.") % {"email": address}
        )
    return HttpResponseRedirect(reverse("desk:member", args=[member.pk]))


@desk_view
@require_POST
def activation_send(request: HttpRequest, member_id: int) -> HttpResponse:
    """ "Send an activation link" (``members.change_member``): to the address on record, or
    to the address the member gives at the counter, which becomes their login
    (members.activation)."""
    if not request.user.has_perm("members.change_member"):
        raise PermissionDenied
    member = get_object_or_404(Member, pk=member_id, erased_at__isnull=True)
    try:
        address = activation_send_by_staff(
            member=member,
            request=request,
            actor=request_actor(request),
            email=request.POST.get("email", "")[:400],
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("An activation link was sent to %(email)s. It works once, for an hour.")
            % {"email": address},
        )
    return HttpResponseRedirect(reverse("desk:member", args=[member.pk]))
