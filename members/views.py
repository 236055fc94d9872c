"""Member pages ("Mina sidor"): parse, authorise, call one service, render."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter as get_account_adapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
)
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import check_for_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET, require_POST

from members.activation import (
    ACTIVATION_SECONDS,
    ActivationCodeInvalidError,
    ActivationLimitedError,
    ActivationLinkInvalidError,
    activation_code_check,
    activation_email_confirm,
    activation_request,
    activation_token_member,
    identifier_parse,
    member_activate,
)
from members.card import card_qr_svg
from members.forms import (
    ActivationCodeForm,
    ActivationPasswordForm,
    ActivationRequestForm,
    ProfileForm,
    form_add_service_errors,
)
from members.models import Member
from members.offline import offline_copy
from members.security import client_ip
from members.selectors import member_resolve
from members.services import card_token_rotate, member_set_language, member_update_profile


def _member_or_none(request: HttpRequest) -> Member | None:
    member = getattr(request.user, "member", None)
    if member is not None and member.merged_into_id is not None:
        # a merge moves the login to the survivor; a login still on a tombstone lands there too
        member = member_resolve(member)
    if member is None or member.is_erased:
        return None
    return member


def member_required(view: Any) -> Any:
    """Logged in, with an active membership; staff without one are sent to the admin."""

    @login_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member = _member_or_none(request)
        if member is None:
            if request.user.is_staff:
                return redirect("admin:index")
            messages.error(request, _("This login has no active membership."))
            return redirect("account_logout")
        request.member = member  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def landing(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and _member_or_none(request) is not None:
        return redirect("members:home")
    return render(request, "members/landing.html")


@member_required
@offline_copy
def home(request: HttpRequest) -> HttpResponse:
    member: Member = request.member  # type: ignore[attr-defined]
    return render(
        request, "members/home.html", {"member": member, "panels": home_panels(request, member)}
    )


def home_panels(request: HttpRequest, member: Member) -> list[str]:
    """Rendered panels that higher apps contribute to "My pages" (points, tier, offers)."""
    from members.pages import panels_render

    return panels_render(request, member)


@member_required
@offline_copy
@never_cache
def card(request: HttpRequest) -> HttpResponse:
    member: Member = request.member  # type: ignore[attr-defined]
    return render(
        request,
        "members/card.html",
        {"member": member, "qr_svg": card_qr_svg(member, title=_("Membership card QR code"))},
    )


@member_required
@require_POST
def card_rotate(request: HttpRequest) -> HttpResponse:
    card_token_rotate(member=request.member, actor=request.user)  # type: ignore[attr-defined,arg-type]
    messages.success(
        request, _("Your card has a new QR code. Old screenshots of it no longer work.")
    )
    return redirect("members:card")


@member_required
def profile(request: HttpRequest) -> HttpResponse:
    member: Member = request.member  # type: ignore[attr-defined]
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                member_update_profile(
                    member=member,
                    actor=member.user,
                    source="web",
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("Your profile has been saved."))
                response = redirect("members:profile")
                _set_language_cookie(response, form.cleaned_data["preferred_language"])
                return response
    else:
        form = ProfileForm(
            initial={
                "first_name": member.first_name,
                "last_name": member.last_name,
                "phone": member.phone,
                "birth_date": member.birth_date,
                "home_store": member.home_store_id,
                "preferred_language": member.preferred_language,
            }
        )
    return render(request, "members/profile.html", {"form": form, "member": member})


def _set_language_cookie(response: HttpResponse, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=False,
        samesite="Lax",
    )


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """Switch language: remembered in a cookie, and on the membership when logged in."""
    language = request.POST.get("language", "")
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = "/"
    response = HttpResponseRedirect(next_url)
    if language and check_for_language(language) and language in dict(settings.LANGUAGES):
        _set_language_cookie(response, language)
        member = _member_or_none(request) if request.user.is_authenticated else None
        if member is not None:
            member_set_language(member=member, language=language)
    return response


@require_GET
@cache_control(max_age=3600)
def manifest(request: HttpRequest) -> HttpResponse:
    """Web app manifest: "Add to home screen" opens the card directly."""
    return render(
        request,
        "members/manifest.webmanifest",
        {"start_url": reverse("members:card")},
        content_type="application/manifest+json",
    )


@require_GET
@cache_control(max_age=86400)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every site, the back-office and the API docs too:
    the club's icon, a local static file (no 404 in the logs, nothing from the internet)."""
    return HttpResponsePermanentRedirect(static("icons/icon.svg"))


@require_GET
@cache_control(max_age=0, no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponse:
    """Served from the site root so that it may keep the member's pages for offline use
    (members.offline, docs/member-pages.md "Offline and install")."""
    response = render(
        request,
        "members/sw.js",
        {
            "offline_url": reverse("members:offline"),
            "logout_url": reverse("account_logout"),
            # where pictures are served from this host (config/urls.py); kept for offline use
            "pictures_path": reverse("picture", args=["x"]).removesuffix("x"),
        },
        content_type="application/javascript",
    )
    response["Service-Worker-Allowed"] = "/"
    return response


# --- activation: a login for a member who joined in store (members.activation) --------------

_ACTIVATION_SESSION_KEY = "members_activation_token"


def _logged_in_member(request: HttpRequest) -> bool:
    return request.user.is_authenticated and _member_or_none(request) is not None


@never_cache
def activate(request: HttpRequest) -> HttpResponse:
    """The activation page ("Aktivera ditt konto"): the member names themselves; the answer
    never says whether a membership matched (members.activation)."""
    if _logged_in_member(request):
        return redirect("members:home")
    form = ActivationRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            activation_request(
                identifier_text=form.cleaned_data["identifier"],
                client=client_ip(request),
                request=request,
            )
        except ActivationLimitedError:
            form.add_error(
                None,
                _("You have asked for many links in a short time. Try again in an hour."),
            )
            return render(request, "members/activate.html", {"form": form}, status=429)
        # Where the page says to look depends only on what was typed, never on a match.
        identifier = identifier_parse(form.cleaned_data["identifier"])
        by_phone = identifier is not None and identifier.kind in ("phone", "number")
        url = reverse("members:activate-sent") + ("?via=sms" if by_phone else "")
        return redirect(url)
    return render(request, "members/activate.html", {"form": form})


def activate_sent(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "members/activate_sent.html",
        {"minutes": ACTIVATION_SECONDS // 60, "by_phone": request.GET.get("via") == "sms"},
    )


@never_cache
def activate_code(request: HttpRequest) -> HttpResponse:
    """Membership number (or mobile number) plus the code from the text message: opens the
    same password page as the link (members.activation)."""
    if _logged_in_member(request):
        return redirect("members:home")
    form = ActivationCodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            token = activation_code_check(
                identifier_text=form.cleaned_data["identifier"],
                code=form.cleaned_data["code"],
                client=client_ip(request),
            )
        except ActivationLimitedError:
            form.add_error(
                None,
                _("You have asked for many links in a short time. Try again in an hour."),
            )
            return render(request, "members/activate_code.html", {"form": form}, status=429)
        except ActivationCodeInvalidError as error:
            form.add_error("code", error.message)
        else:
            request.session[_ACTIVATION_SESSION_KEY] = token
            return redirect("members:activate-password")
    return render(request, "members/activate_code.html", {"form": form})


@never_cache
def activate_link(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the mail: checked, then kept in the session and the browser sent on to
    a page whose address holds no token (as Django's password reset does), so the token
    never leaks through the Referer header or the browser history."""
    try:
        activation_token_member(token)
    except ActivationLinkInvalidError:
        return render(request, "members/activate_invalid.html", status=400)
    request.session[_ACTIVATION_SESSION_KEY] = token
    return redirect("members:activate-password")


@never_cache
def activate_password(request: HttpRequest) -> HttpResponse:
    token = request.session.get(_ACTIVATION_SESSION_KEY, "")
    try:
        member = activation_token_member(token)
    except ActivationLinkInvalidError:
        return render(request, "members/activate_invalid.html", status=400)
    form = ActivationPasswordForm(
        request.POST if request.method == "POST" else None, user=member.user
    )
    if request.method == "POST" and form.is_valid():
        try:
            user = member_activate(
                token=token,
                password=form.cleaned_data["password2"],
                email=form.cleaned_data.get("email", ""),
            )
        except ActivationLinkInvalidError:
            return render(request, "members/activate_invalid.html", status=400)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            request.session.pop(_ACTIVATION_SESSION_KEY, None)
            activation_email_confirm(user=user, request=request)
            get_account_adapter(request).login(request, user)
            messages.success(
                request, _("Your account is active. Welcome to your membership online!")
            )
            response = redirect("members:home")
            _set_language_cookie(response, member.preferred_language)
            return response
    return render(
        request,
        "members/activate_password.html",
        {"form": form, "email": member.user.email if member.user else "", "member": member},
    )


def offline(request: HttpRequest) -> HttpResponse:
    return render(request, "members/offline.html")
