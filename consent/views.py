"""Member pages for consent and privacy: parse, authorise, call one service, render.

The preference centre toggles each purpose with one button, so withdrawing takes exactly as
many clicks as granting. The unsubscribe and erasure-confirmation links work without login:
their signed tokens are the authority.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consent import privacy_parts
from consent.errors import (
    InvalidConfirmationLinkError,
    InvalidUnsubscribeTokenError,
    MemberErasedError,
)
from consent.forms import (
    ContactPreferencesForm,
    InterestsForm,
    InterestsStepForm,
    client_ip,
    client_user_agent,
)
from consent.interests_step import interests_step_hints
from consent.models import (
    ConsentEvent,
    ContactPreferences,
    LawfulBasis,
    PrivacyRequest,
    Purpose,
    Retention,
)
from consent.processing_register import REGISTER_PURPOSES, register_entries
from consent.selectors import (
    consent_history_latest,
    consent_states,
    contact_preferences_get,
    interests_active_list,
    member_interest_ids,
    policy_version_current,
    privacy_export_downloadable,
    privacy_request_latest,
    purposes_needing_consent_list,
)
from consent.services.consent import consent_set
from consent.services.erasure import (
    privacy_erasure_cancel,
    privacy_erasure_confirm,
    privacy_erasure_request,
)
from consent.services.export import privacy_export_open, privacy_export_request
from consent.services.preferences import (
    contact_preferences_update,
    interests_set,
    interests_step_offered,
    marketing_pause,
    marketing_resume,
)
from consent.services.unsubscribe import unsubscribe_redeem, unsubscribe_token_read
from members.actors import request_actor
from members.errors import DomainError
from members.forms import form_add_service_errors
from members.models import Member
from members.views import member_required


def domain_errors_shown(back: str) -> Callable[[Any], Any]:
    """A refused change (e.g. the membership was erased meanwhile) becomes a message on the
    page it came from, never an error page."""

    def decorate(view: Any) -> Any:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except DomainError as exc:
                messages.error(request, exc.message)
                return redirect(back)

        return wrapped

    return decorate


def _member(request: HttpRequest) -> Member:
    return request.member  # type: ignore[attr-defined]


# --- the preference centre ---------------------------------------------------------------


@member_required
@never_cache
def preferences(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    prefs = contact_preferences_get(member=member)
    contact_form = ContactPreferencesForm(
        initial={
            "max_messages_per_week": prefs.max_messages_per_week or "",
            "quiet_start": prefs.quiet_start,
            "quiet_end": prefs.quiet_end,
        }
    )
    interests_form = InterestsForm(initial={"interests": list(member_interest_ids(member=member))})
    return _preferences_render(request, member, contact_form, interests_form, prefs=prefs)


def _interest_choices_fixed(form: InterestsForm | InterestsStepForm) -> None:
    """The interests as a list read once (a compiled query, members.rows) for rendering:
    the field's own choices run its queryset anew every time the template walks them.
    Validation (``is_valid``) has already used the queryset."""
    field = form.fields["interests"]
    field.choices = [  # type: ignore[attr-defined]
        (field.prepare_value(interest), field.label_from_instance(interest))  # type: ignore[attr-defined]
        for interest in interests_active_list()
    ]


def _interest_options(form: InterestsForm) -> list[dict[str, Any]]:
    """The interest checkboxes as plain values: what ``CheckboxSelectMultiple`` puts in each
    option's context (name, value, id, label, checked), without building a widget context
    per option while the template walks the field (about a tenth of the preference centre,
    docs/benchmarks.md "Member pages"). Call after ``_interest_choices_fixed``."""
    bound = form["interests"]
    chosen = {str(value) for value in bound.value() or ()}
    field: Any = form.fields["interests"]
    return [
        {
            "name": bound.html_name,
            "value": str(value),
            "id": f"{bound.auto_id}_{index}" if bound.auto_id else "",
            "label": label,
            "checked": str(value) in chosen,
        }
        for index, (value, label) in enumerate(field.choices)
    ]


def _step_next(request: HttpRequest) -> str:
    """Where the step leads on to: a page of Mina sidor named by ``next``, else Mina sidor."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted.startswith("/mina-sidor/") and url_has_allowed_host_and_scheme(
        wanted, {request.get_host()}, request.is_secure()
    ):
        return wanted
    return reverse("members:home")


@member_required
@never_cache
@require_http_methods(["GET", "POST"])
@domain_errors_shown("members:home")
def interests_step(request: HttpRequest) -> HttpResponse:
    """ "Vad gillar du?", right after sign-up (consent.interests_step) or from Mina val:
    tiles, "Spara" and "Hoppa över". Skipping changes nothing; it was offered when shown."""
    member = _member(request)
    after = _step_next(request)
    status = 200
    if request.method == "POST":
        if "skip" in request.POST:
            return redirect(after)
        form = InterestsStepForm(request.POST)
        if form.is_valid():
            try:
                interests_set(
                    member=member,
                    interest_ids=[i.pk for i in form.cleaned_data["interests"]],
                    actor=request_actor(request),
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("Thank you! Your interests have been saved."))
                return redirect(after)
        status = 400
    else:
        interests_step_offered(member=member, actor=request_actor(request))
        form = InterestsStepForm(initial={"interests": list(member_interest_ids(member=member))})
    _interest_choices_fixed(form)
    return render(
        request,
        "consent/interests_step.html",
        {"form": form, "next": after, "hints": interests_step_hints(member)},
        status=status,
    )


def _preferences_render(
    request: HttpRequest,
    member: Member,
    contact_form: ContactPreferencesForm,
    interests_form: InterestsForm,
    status: int = 200,
    prefs: ContactPreferences | None = None,
) -> HttpResponse:
    states = consent_states(member=member)
    purposes = [
        {
            "purpose": p,
            "granted": bool(states.get(p.pk) and states[p.pk].granted),
            "state": states.get(p.pk),
        }
        for p in purposes_needing_consent_list()
    ]
    if prefs is None:
        prefs = contact_preferences_get(member=member)
    _interest_choices_fixed(interests_form)
    return render(
        request,
        "consent/preferences.html",
        {
            "member": member,
            "purposes": purposes,
            "prefs": prefs,
            "contact_form": contact_form,
            "interests_form": interests_form,
            "interest_options": _interest_options(interests_form),
            "policy": policy_version_current(),
        },
        status=status,
    )


@member_required
@require_POST
@domain_errors_shown("consent:preferences")
def consent_toggle(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    purpose = Purpose.objects.filter(code=request.POST.get("purpose", ""), active=True).first()
    action = request.POST.get("action")
    if purpose is None or action not in ("grant", "withdraw") or not purpose.needs_consent:
        messages.error(request, _("That choice could not be found. Please try again."))
        return redirect("consent:preferences")
    consent_set(
        member=member,
        purpose=purpose,
        granted=action == "grant",
        source=ConsentEvent.Source.WEB,
        actor=request_actor(request),
        ip_address=client_ip(request),
        user_agent=client_user_agent(request),
    )
    if action == "grant":
        messages.success(
            request, _("Thank you. You said yes to: %(name)s.") % {"name": purpose.name}
        )
    else:
        messages.success(request, _("Done. You said no to: %(name)s.") % {"name": purpose.name})
    return redirect(reverse("consent:preferences") + f"#purpose-{purpose.code}")


@member_required
@require_POST
@domain_errors_shown("consent:preferences")
def contact_preferences(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    form = ContactPreferencesForm(request.POST)
    if form.is_valid():
        try:
            contact_preferences_update(
                member=member,
                actor=request_actor(request),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(request, _("Your contact preferences have been saved."))
            return redirect(reverse("consent:preferences") + "#contact")
    interests_form = InterestsForm(initial={"interests": list(member_interest_ids(member=member))})
    return _preferences_render(request, member, form, interests_form, status=400)


@member_required
@require_POST
@domain_errors_shown("consent:preferences")
def pause(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action")
    if action not in ("pause", "resume"):  # the page's two buttons; anything else is refused
        messages.error(request, _("That choice could not be found. Please try again."))
        return redirect(reverse("consent:preferences") + "#pause")
    if action == "resume":
        marketing_resume(member=_member(request), actor=request_actor(request))
        messages.success(request, _("Welcome back. We may contact you again as you chose."))
    else:
        marketing_pause(member=_member(request), actor=request_actor(request))
        messages.success(request, _("All marketing is paused for 30 days."))
    return redirect(reverse("consent:preferences") + "#pause")


@member_required
@require_POST
@domain_errors_shown("consent:preferences")
def interests(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    form = InterestsForm(request.POST)
    if form.is_valid():
        try:
            interests_set(
                member=member,
                interest_ids=[i.pk for i in form.cleaned_data["interests"]],
                actor=request_actor(request),
            )
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(request, _("Your interests have been saved."))
            return redirect(reverse("consent:preferences") + "#interests")
    prefs = contact_preferences_get(member=member)
    contact_form = ContactPreferencesForm(
        initial={
            "max_messages_per_week": prefs.max_messages_per_week or "",
            "quiet_start": prefs.quiet_start,
            "quiet_end": prefs.quiet_end,
        }
    )
    return _preferences_render(request, member, contact_form, form, status=400)


# --- my data -------------------------------------------------------------------------------


def retention_overview() -> list[dict[str, Any]]:
    """Kinds of data grouped by how long they are kept, from the processing register (the
    same for every member: built once per process and language)."""
    return _retention_overview(get_language() or settings.LANGUAGE_CODE)


@functools.lru_cache(maxsize=8)
def _retention_overview(language: str) -> list[dict[str, Any]]:
    groups: OrderedDict[str, set[str]] = OrderedDict((code, set()) for code in Retention.values)
    for entry in register_entries():
        groups[entry.retention].add(entry.kind)
    labels = dict(Retention.choices)
    return [
        {"retention": labels[code], "kinds": sorted(kinds)}
        for code, kinds in groups.items()
        if kinds
    ]


@member_required
@never_cache
def my_data(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    sections = [{"section": s, "rows": s.rows(member)} for s in privacy_parts.page_sections()]
    export = privacy_request_latest(member=member, kind=PrivacyRequest.Kind.EXPORT)
    erasure = privacy_request_latest(member=member, kind=PrivacyRequest.Kind.ERASURE)
    return render(
        request,
        "consent/my_data.html",
        {
            "member": member,
            "sections": sections,
            "history": consent_history_latest(member=member, limit=100),
            "retention": retention_overview(),
            "export": export,
            "export_downloadable": export is not None
            and privacy_export_downloadable(member=member, request_id=export.pk) is not None,
            "erasure": erasure,
        },
    )


@member_required
@require_POST
@domain_errors_shown("consent:my-data")
def export_start(request: HttpRequest) -> HttpResponse:
    privacy_export_request(member=_member(request), actor=request_actor(request))
    messages.success(
        request, _("We are collecting your data. We will email you when the file is ready.")
    )
    return redirect(reverse("consent:my-data") + "#export")


@member_required
@require_GET
@never_cache
def export_status(request: HttpRequest) -> JsonResponse:
    export = privacy_request_latest(member=_member(request), kind=PrivacyRequest.Kind.EXPORT)
    if export is None:
        return JsonResponse({"status": None, "progress": 0})
    return JsonResponse({"status": export.status, "progress": export.progress})


@member_required
@require_GET
@never_cache
def export_download(request: HttpRequest, pk: int) -> FileResponse:
    # Only the member's own, finished, unexpired export: anything else is simply not found.
    export = privacy_export_downloadable(member=_member(request), request_id=pk)
    if export is None:
        raise Http404
    try:
        archive = privacy_export_open(export)
    except FileNotFoundError as exc:
        raise Http404 from exc
    return FileResponse(
        archive,
        as_attachment=True,
        filename=f"kundklubben-data-{export.completed_at:%Y-%m-%d}.zip",
        content_type="application/zip",
    )


@member_required
@require_POST
@domain_errors_shown("consent:my-data")
def erasure_request(request: HttpRequest) -> HttpResponse:
    if request.POST.get("confirm") != "yes":
        messages.error(request, _("Tick the box to confirm that you want your membership erased."))
        return redirect(reverse("consent:my-data") + "#erasure")
    privacy_erasure_request(member=_member(request), actor=request_actor(request))
    messages.success(
        request, _("We have sent you an email. Click the link in it to confirm the erasure.")
    )
    return redirect(reverse("consent:my-data") + "#erasure")


@member_required
@require_POST
@domain_errors_shown("consent:my-data")
def erasure_cancel(request: HttpRequest) -> HttpResponse:
    if privacy_erasure_cancel(member=_member(request), actor=request_actor(request)):
        messages.success(request, _("The erasure is cancelled. Your membership stays as it is."))
    return redirect(reverse("consent:my-data") + "#erasure")


@require_http_methods(["GET", "POST"])
@never_cache
def erasure_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: GET shows one button (mail scanners only GET), POST confirms."""
    if request.method == "GET":
        return render(request, "consent/erasure_confirm.html", {"token": token, "done": False})
    try:
        confirmed = privacy_erasure_confirm(token=token)
    except InvalidConfirmationLinkError as exc:
        return render(request, "consent/erasure_confirm.html", {"error": exc.message}, status=400)
    return render(request, "consent/erasure_confirm.html", {"done": True, "request_obj": confirmed})


# --- one-click unsubscribe ----------------------------------------------------------------


@csrf_exempt  # the signed token is the authority; RFC 8058 one-click POSTs carry no cookie
@require_http_methods(["GET", "POST"])
@never_cache
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the choice with one button; POST (the button, or a mail client's RFC 8058
    ``List-Unsubscribe=One-Click``) withdraws. Scanners that follow links only GET."""
    try:
        data = unsubscribe_token_read(token)
    except InvalidUnsubscribeTokenError as exc:
        return render(request, "consent/unsubscribe.html", {"error": exc.message}, status=400)
    purpose = Purpose.objects.filter(code=data["p"]).first()
    if request.method == "GET":
        return render(request, "consent/unsubscribe.html", {"purpose": purpose, "token": token})
    try:
        result = unsubscribe_redeem(
            token=token, ip_address=client_ip(request), user_agent=client_user_agent(request)
        )
    except (InvalidUnsubscribeTokenError, MemberErasedError) as exc:
        return render(request, "consent/unsubscribe.html", {"error": exc.message}, status=400)
    return render(
        request,
        "consent/unsubscribe.html",
        {"purpose": result.purpose, "done": True, "withdrawn": result.withdrawn},
    )


# --- public: how we use your data ----------------------------------------------------------


def privacy_notice(request: HttpRequest) -> HttpResponse:
    """Generated from the processing register and the purposes, in the visitor's language."""
    purposes = {p.code: p for p in Purpose.objects.filter(active=True)}
    retention_labels = dict(Retention.choices)
    grouped: OrderedDict[str, dict[str, Any]] = OrderedDict()
    for code, (label, basis) in REGISTER_PURPOSES.items():
        purpose = purposes.get(code)
        grouped[code] = {
            "code": code,
            "title": purpose.name if purpose else label,
            "description": purpose.description if purpose else "",
            "basis": purpose.get_lawful_basis_display() if purpose else basis,
            "fields": {},
            "retention": set(),
        }
    for entry in register_entries():
        group = grouped[entry.purpose]
        group["fields"].setdefault(entry.kind, set()).add(entry.verbose_name)
        group["retention"].add(str(retention_labels[entry.retention]))
    partners = [p for p in purposes.values() if p.category == Purpose.Category.PARTNER]

    basis_labels = dict(LawfulBasis.choices)
    sections = []
    for group in grouped.values():
        if not group["fields"] and group["code"] not in purposes:
            continue
        group["basis"] = basis_labels.get(group["basis"], group["basis"])
        group["fields"] = [
            {"kind": kind, "fields": sorted(fields, key=str.lower)}
            for kind, fields in sorted(group["fields"].items())
        ]
        group["retention"] = sorted(group["retention"])
        sections.append(group)
    return render(
        request,
        "consent/privacy_notice.html",
        {"sections": sections, "partners": partners, "policy": policy_version_current()},
    )
